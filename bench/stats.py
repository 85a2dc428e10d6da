"""Latency and throughput statistics as pure numpy functions (no I/O, no clock).

Every benchmark scenario turns its raw samples into the same summary through `summarize`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

PERCENTILES = (50.0, 95.0, 99.0)


@dataclass(frozen=True)
class Sample:
    """One finished request: how long it took and its HTTP status (0 for a transport error)."""

    latency_s: float
    status: int

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def percentiles_ms(latencies_s: Sequence[float], *, qs: Sequence[float] = PERCENTILES) -> dict[str, float]:
    """p50/p95/p99 (linear interpolation), mean and max, in milliseconds; all NaN for no samples."""
    keys = [f"p{q:g}" for q in qs] + ["mean", "max"]
    if len(latencies_s) == 0:
        return dict.fromkeys(keys, float("nan"))
    ms = np.asarray(latencies_s, dtype=np.float64) * 1000.0
    values = [*np.percentile(ms, list(qs)), ms.mean(), ms.max()]
    return {key: round(float(v), 3) for key, v in zip(keys, values, strict=True)}


def rate(count: int, *, elapsed_s: float) -> float:
    """Events per second; ValueError for a non-positive interval."""
    if elapsed_s <= 0:
        raise ValueError(f"elapsed_s must be positive, got {elapsed_s}")
    return count / elapsed_s


def histogram_mean(*, before: tuple[float, float], after: tuple[float, float]) -> float | None:
    """Mean observation between two scrapes of a histogram's (sum, count); None if nothing was observed."""
    d_sum, d_count = after[0] - before[0], after[1] - before[1]
    if d_count < 0:
        raise ValueError("histogram count went down between scrapes (did the service restart?)")
    return None if d_count == 0 else d_sum / d_count


def status_counts(samples: Sequence[Sample]) -> dict[str, int]:
    """How many requests ended with each status, keyed by the status as text ("0" = transport error)."""
    return {str(k): v for k, v in sorted(Counter(s.status for s in samples).items())}


def summarize(samples: Sequence[Sample], *, elapsed_s: float, images_per_request: int) -> dict[str, object]:
    """Throughput of successful requests and the latency of successful ones; errors counted apart."""
    ok = [s.latency_s for s in samples if s.ok]
    return {
        "requests": len(samples),
        "errors": len(samples) - len(ok),
        "status_counts": status_counts(samples),
        "elapsed_s": round(elapsed_s, 3),
        "req_per_s": round(rate(len(ok), elapsed_s=elapsed_s), 2),
        "images_per_s": round(rate(len(ok) * images_per_request, elapsed_s=elapsed_s), 2),
        "latency_ms": percentiles_ms(ok),
    }


def recall_at_1(exact_ids: np.ndarray, approx_ids: np.ndarray) -> float:
    """Share of queries whose approximate top-1 id equals the exact top-1 id (first column of each)."""
    exact, approx = np.asarray(exact_ids), np.asarray(approx_ids)
    if exact.shape[0] != approx.shape[0] or exact.shape[0] == 0:
        raise ValueError(
            f"need the same positive number of queries, got {exact.shape[0]} and {approx.shape[0]}"
        )
    return float(np.mean(exact.reshape(len(exact), -1)[:, 0] == approx.reshape(len(approx), -1)[:, 0]))
