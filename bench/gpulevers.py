"""Encoder levers beyond the batcher, on one model: IOBinding (input and output left on the device), an fp16
export (its throughput and its parity with fp32), and several sessions run from threads at once.

Run: `python -m bench.gpulevers --model faces --device cuda --out levers-faces.json`. Inputs are seeded random
tensors of the card's shape: throughput does not depend on content, and parity is measured on the same batch.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from app.encoder import choose_providers, l2_normalize
from modelcard import load_card

SESSION_COUNTS = (1, 2, 4)


def new_session(path: Path, *, device: str) -> ort.InferenceSession:
    providers = choose_providers(device, available=ort.get_available_providers())
    return ort.InferenceSession(str(path), providers=providers)


def images_per_s(call: Callable[[], object], *, batch: int, duration_s: float) -> float:
    """Call back to back for `duration_s` after two warm-up calls; images per second."""
    call(), call()
    calls, started = 0, time.perf_counter()
    while time.perf_counter() - started < duration_s:
        call()
        calls += 1
    return round(calls * batch / (time.perf_counter() - started), 1)


def plain_run(session: ort.InferenceSession, batch: np.ndarray, output: str) -> Callable[[], object]:
    name = session.get_inputs()[0].name
    return lambda: session.run([output], {name: batch})


def bound_run(session: ort.InferenceSession, batch: np.ndarray, output: str) -> Callable[[], object]:
    """IOBinding with the input copied to the device once and the output kept there."""
    device = "cuda" if session.get_providers()[0] == "CUDAExecutionProvider" else "cpu"
    binding = session.io_binding()
    binding.bind_ortvalue_input(
        session.get_inputs()[0].name, ort.OrtValue.ortvalue_from_numpy(batch, device, 0)
    )
    binding.bind_output(output, device)
    return lambda: session.run_with_iobinding(binding)


def fp16_export(src: Path, dst: Path) -> Path:
    """The model with fp16 weights and compute, fp32 inputs and outputs kept (so the service's code is unchanged)."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    onnx.save(convert_float_to_float16(onnx.load(str(src)), keep_io_types=True), str(dst))
    return dst


def parity(reference: np.ndarray, other: np.ndarray) -> dict[str, float]:
    """Cosine and largest element difference between two sets of embeddings, each L2-normalized."""
    a, b = l2_normalize(reference), l2_normalize(other.astype(np.float32))
    cos = (a * b).sum(axis=1)
    return {"min_cosine": round(float(cos.min()), 6), "max_abs_diff": round(float(np.abs(a - b).max()), 6)}


def threaded_images_per_s(
    sessions: Sequence[ort.InferenceSession], batch: np.ndarray, output: str, *, duration_s: float
) -> float:
    """Every session called from a thread of its own at once; images per second, all threads together."""
    rates: list[float] = []
    threads = [
        threading.Thread(
            target=lambda s=s: rates.append(
                images_per_s(plain_run(s, batch, output), batch=len(batch), duration_s=duration_s)
            )
        )
        for s in sessions
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return round(sum(rates), 1)


def measure(models_dir: Path, *, model: str, device: str, batch: int, duration_s: float) -> dict[str, Any]:
    """Plain run, IOBinding, fp16 and several sessions on one batch; a lever that fails records its error."""
    card = load_card(Path(models_dir) / f"{model}.json")
    onnx_path = Path(models_dir) / f"{model}.onnx"
    spec = card.input
    x = np.random.default_rng(0).standard_normal(
        (batch, spec.channels, spec.height, spec.width), dtype=np.float32
    )
    session = new_session(onnx_path, device=device)
    out = card.output_name
    doc: dict[str, Any] = {"model": model, "provider": session.get_providers()[0], "batch": batch}
    doc["plain_images_per_s"] = images_per_s(plain_run(session, x, out), batch=batch, duration_s=duration_s)
    doc["iobinding"] = _lever(
        lambda: {"images_per_s": images_per_s(bound_run(session, x, out), batch=batch, duration_s=duration_s)}
    )
    doc["fp16"] = _lever(
        lambda: _fp16(
            onnx_path,
            x,
            out,
            reference=session.run([out], {session.get_inputs()[0].name: x})[0],
            device=device,
            duration_s=duration_s,
        )
    )
    doc["sessions"] = _lever(
        lambda: {
            str(n): threaded_images_per_s(
                [new_session(onnx_path, device=device) for _ in range(n)], x, out, duration_s=duration_s
            )
            for n in SESSION_COUNTS
        }
    )
    return doc


def _fp16(
    onnx_path: Path, x: np.ndarray, out: str, *, reference: np.ndarray, device: str, duration_s: float
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="sg-fp16-") as tmp:
        half = new_session(fp16_export(onnx_path, Path(tmp) / "model.fp16.onnx"), device=device)
        result = parity(reference, half.run([out], {half.get_inputs()[0].name: x})[0])
        return result | {
            "images_per_s": images_per_s(plain_run(half, x, out), batch=len(x), duration_s=duration_s)
        }


def _lever(measure_one: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    try:
        return measure_one()
    except Exception as exc:  # a lever this build cannot use is a finding, not a crash
        return {"error": f"{type(exc).__name__}: {exc}"[:500]}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gpulevers", description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--models-dir", type=Path, default=Path("models"))
    parser.add_argument("--device", choices=("cpu", "cuda", "auto"), default="cuda")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--duration", type=float, default=2.0, help="seconds per measurement")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    doc = measure(
        args.models_dir, model=args.model, device=args.device, batch=args.batch, duration_s=args.duration
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"kind": "encoder-levers", **doc}, indent=2) + "\n")
    print(json.dumps(doc))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
