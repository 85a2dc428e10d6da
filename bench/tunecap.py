"""`python -m bench tune-cap`: the batch cap a model serves fastest under on this machine's CPU, into its card.

The raw encoder's images/s at batch 1, 8 and 32, then the identify scenario once per cap (the same clients,
gallery and images each time, the card's own cap switched off); the cap that answered the most requests per
second, or the smallest one within `TOLERANCE` of it, becomes the card's `serving.cpu_max_batch`, with every
rate measured beside it. The service applies it to that model on the CPU (`SG_CARD_BATCH_CAPS`).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.machine import machine_info
from bench.raw import decoded_tensors, load_encoder, run_raw
from bench.scenarios import BenchConfig, image_set, run_scenario
from modelcard import load_card
from modelcard.serving import CPU_PROVIDER

# a smaller cap within 2 % of the fastest is taken: a smaller batch waits less behind the one running, and
# two runs of one cap differ by about that much on a quiet 2-core machine
TOLERANCE = 0.02
RAW_BATCHES = (1, 8, 32)


def choose_cap(rates: Mapping[int, float], *, tolerance: float = TOLERANCE) -> int:
    """The smallest cap whose rate is within `tolerance` (a fraction) of the best rate."""
    if not rates:
        raise ValueError("no rates to choose a cap from")
    best = max(rates.values())
    return min(cap for cap, rate in rates.items() if rate >= best * (1.0 - tolerance))


def measure(cfg: BenchConfig, caps: Sequence[int]) -> dict[str, Any]:
    """Raw images/s by batch size, then identify requests/s by cap (one client count, one gallery size)."""
    if len(cfg.clients) != 1 or len(cfg.gallery_sizes) != 1:
        raise ValueError("tune-cap measures one client count at one gallery size")
    encoder = load_encoder(cfg.models_dir, model=cfg.model, session=cfg.session)
    tensors = decoded_tensors(encoder, image_set(cfg).all_images)
    raw = run_raw(encoder, tensors, batches=RAW_BATCHES, duration_s=cfg.duration_s / 2)
    identify: list[dict[str, Any]] = []
    devices = {encoder.provider}
    for cap in caps:
        outcome = run_scenario(
            dataclasses.replace(cfg, scenario="identify", max_batch=cap, card_batch_caps=False)
        )
        devices.add(outcome["device"])
        served = {run.get("max_batch", cap) for run in outcome["runs"]}
        if served != {cap}:  # SG_MODEL_MAX_BATCH in the environment, say
            raise RuntimeError(f"asked for batch cap {cap}, the service ran {sorted(served)}")
        identify += [{"max_batch": cap} | run for run in outcome["runs"]]
    if len(devices) != 1:
        raise RuntimeError(f"the runs were served on different providers: {sorted(map(str, devices))}")
    return {"device": devices.pop(), "raw": raw, "identify": identify}


def serving_section(measured: Mapping[str, Any], *, command: str, results: str) -> dict[str, Any]:
    """The card's `serving` section from `measure`'s figures (CPU only: a GPU's cap is its largest batch)."""
    if measured["device"] != CPU_PROVIDER:
        raise ValueError(f"tune-cap sets the CPU cap; these runs were served on {measured['device']}")
    rates = {run["max_batch"]: run["req_per_s"] for run in measured["identify"]}
    raw = {str(run["batch"]): run["images_per_s"] for run in measured["raw"]}
    best_raw = max(raw.values())
    first = measured["identify"][0]
    return {
        "cpu_max_batch": choose_cap(rates),
        "cpu_tuning": {
            "identify_req_per_s": {str(cap): rate for cap, rate in rates.items()},
            "identify_p99_ms": {str(r["max_batch"]): r["latency_ms"]["p99"] for r in measured["identify"]},
            "of_raw": {str(cap): round(rate / best_raw, 3) for cap, rate in rates.items()},
            "raw_images_per_s": raw,
            "clients": first["clients"],
            "gallery_size": first.get("gallery_size"),
            "tolerance": TOLERANCE,
            "machine": machine_info()["summary"],
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": command,
            "results": results,
        },
    }


def write_serving(card_path: Path, serving: Mapping[str, Any]) -> None:
    """Set the card's `serving` section, the rest of the card kept as it is (its ONNX checked first)."""
    load_card(card_path, verify_onnx=True)
    data = json.loads(Path(card_path).read_text())
    data["serving"] = dict(serving)
    Path(card_path).write_text(json.dumps(data, indent=2) + "\n")
    load_card(card_path, verify_onnx=True)  # what was written still loads
