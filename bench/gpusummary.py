"""The GPU check's last line: device, providers, step counts and the issue's three goals where measured
(service / raw at batch 64, batching on / off at 64 clients, p99 at 8 clients).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.gpusteps import StepResult


def _doc(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.is_file() else None


def _run(doc: dict[str, Any] | None, **match: int) -> dict[str, Any] | None:
    runs = doc.get("runs", []) if doc else []
    return next((r for r in runs if all(r.get(k) == v for k, v in match.items())), None)


def goals(out: Path, model: str) -> dict[str, float]:
    """The goal figures for one model from the result files the check wrote (those present)."""
    raw = _run(_doc(out / f"raw-{model}.json"), batch=64)
    on_doc, off_doc = (
        _doc(out / f"identify-{model}-maxbatch32.json"),
        _doc(out / f"identify-{model}-maxbatch1.json"),
    )
    on64, off64, on8 = _run(on_doc, clients=64), _run(off_doc, clients=64), _run(on_doc, clients=8)
    found: dict[str, float] = {}
    if raw and on64 and raw["images_per_s"]:
        found["service/raw@64"] = on64["images_per_s"] / raw["images_per_s"]
    if on64 and off64 and off64["images_per_s"]:
        found["on/off@64"] = on64["images_per_s"] / off64["images_per_s"]
    if on8:
        found["p99@8 ms"] = on8["latency_ms"]["p99"]
    return found


def environment_lines(env: dict[str, Any]) -> list[str]:
    """What the GPU packages were built for and need, beside what the machine has."""
    gpu, ort, faiss = env.get("gpu", {}), env.get("onnxruntime", {}), env.get("faiss", {})
    has = (
        f"{gpu['name']}, driver {gpu['driver']} (runs CUDA <= {gpu['driver_cuda']})"
        if gpu.get("present")
        else "none"
    )
    libs = {name: hits for name, hits in env.get("cuda_libs", {}).items() if hits}
    lines = [
        f"  python {env.get('python')} at {env.get('executable')}",
        f"  GPU: {has}",
        f"  onnxruntime {ort.get('version')} built for CUDA {ort.get('built_for_cuda')}: {ort.get('providers')}",
        f"  CUDA session: {ort.get('cuda_session', 'not tried (no CUDA provider listed)')}",
        f"  faiss {faiss.get('version')}: {faiss.get('gpus', 0)} GPUs",
        f"  CUDA libraries found: {libs or 'none'}",
    ]
    for name, pkg in env.get("packages", {}).items():
        if pkg["nvidia_requires"]:
            lines.append(f"  {name} {pkg['version']} needs {', '.join(pkg['nvidia_requires'])}")
    return lines


def summary_line(results: Sequence[StepResult], env: dict[str, Any], *, out: Path, model: str | None) -> str:
    """`gpu-check: <device>; <providers>; faiss GPUs N; steps ok/failed/timeout/skipped; goals; results`."""
    gpu = env.get("gpu", {})
    device = (
        f"{gpu['name']} (driver {gpu['driver']}, CUDA {gpu['driver_cuda']})"
        if gpu.get("present")
        else "no GPU"
    )
    session = env.get("onnxruntime", {}).get("cuda_session", {})
    cuda = "CUDA provider" if "CUDAExecutionProvider" in session.values() else "no CUDA provider"
    counts = {s: sum(r.status == s for r in results) for s in ("ok", "failed", "timeout", "skipped")}
    steps = ", ".join(f"{n} {s}" for s, n in counts.items())
    parts = [device, cuda, f"faiss GPUs {env.get('faiss', {}).get('gpus', 0)}", f"steps {steps}"]
    if model and (out / f"raw-{model}.json").is_file():
        figures = goals(out, model)
        parts.append(f"{model}: " + (", ".join(f"{k} {v:.2f}" for k, v in figures.items()) or "no figures"))
    return "gpu-check: " + "; ".join(parts) + f"; results in {out}"
