"""Exact FAISS search on the GPU: seeded unit vectors, queries per call as the batcher would send them.

Run: `python -m bench.faissgpu --references 1000000 --out bench/results/faiss-gpu.json` (needs a faiss GPU build).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import faiss
import numpy as np

QUERY_BATCHES = (1, 8, 32, 64, 256)


def unit_vectors(n: int, dim: int, *, seed: int) -> np.ndarray:
    """`n` seeded random directions in `dim` dimensions, float32, each of length 1."""
    x = np.random.default_rng(seed).standard_normal((n, dim), dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def gpu_flat_index(references: np.ndarray) -> Any:
    """An inner-product flat index on GPU 0 holding `references`."""
    index = faiss.index_cpu_to_gpu(faiss.StandardGpuResources(), 0, faiss.IndexFlatIP(references.shape[1]))
    index.add(references)
    return index


def time_search(index: Any, queries: np.ndarray, *, k: int, duration_s: float) -> dict[str, float]:
    """Search one batch back to back for `duration_s`: ms per call and per query."""
    index.search(queries, k)  # warm-up
    calls, started = 0, time.perf_counter()
    while time.perf_counter() - started < duration_s:
        index.search(queries, k)
        calls += 1
    per_call = (time.perf_counter() - started) / calls * 1000
    return {
        "queries": len(queries),
        "ms_per_call": round(per_call, 3),
        "ms_per_query": per_call / len(queries),
    }


def measure(
    *, references: int, dim: int, k: int, batches: Sequence[int], duration_s: float
) -> dict[str, Any]:
    """Build the index (timed), then time each query batch and check GPU top-1 against CPU exact search."""
    refs = unit_vectors(references, dim, seed=0)
    started = time.perf_counter()
    index = gpu_flat_index(refs)
    build_s = time.perf_counter() - started
    probe = unit_vectors(64, dim, seed=1)
    cpu = faiss.IndexFlatIP(dim)
    cpu.add(refs)
    agree = float((index.search(probe, 1)[1] == cpu.search(probe, 1)[1]).mean())
    runs = [time_search(index, unit_vectors(b, dim, seed=2), k=k, duration_s=duration_s) for b in batches]
    return {
        "references": references,
        "dim": dim,
        "k": k,
        "build_s": round(build_s, 3),
        "top1_agree": agree,
        "runs": runs,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.faissgpu", description=__doc__.splitlines()[0])
    parser.add_argument("--references", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--duration", type=float, default=1.0, help="seconds per query batch")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if faiss.get_num_gpus() < 1:
        raise SystemExit("faiss sees no GPU")
    doc = measure(
        references=args.references, dim=args.dim, k=args.k, batches=QUERY_BATCHES, duration_s=args.duration
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"kind": "faiss-gpu", **doc}, indent=2) + "\n")
    for run in doc["runs"]:
        print(f"{run['queries']:>4} queries/call: {run['ms_per_call']:.3f} ms/call")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
