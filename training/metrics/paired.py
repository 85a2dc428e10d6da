"""Paired comparison of two models' macro (per-class mean) figures on the same probes: the difference and a
bootstrap interval that resamples each class's probes, so that a gain smaller than the noise is not read as one.
"""

from __future__ import annotations

import numpy as np


def per_probe(hits: dict[object, np.ndarray], *, rounds: int) -> dict[object, np.ndarray]:
    """Each class's `rounds` x n hits (round-major, the same n probe positions every round, as
    `pooled_kshot_hits` gives them) as one score per probe position: its hit rate over the rounds."""
    out = {}
    for label, h in hits.items():
        h = np.asarray(h, dtype=float)
        if h.size % rounds:
            raise ValueError(f"{label}: {h.size} hits do not split into {rounds} rounds")
        out[label] = h.reshape(rounds, -1).mean(axis=0)
    return out


def macro_difference(
    a: dict[object, np.ndarray], b: dict[object, np.ndarray], *, n_boot: int = 2000, seed: int = 0
) -> dict[str, float]:
    """macro(a) - macro(b) for per-probe scores of the same probes, and its 95 % bootstrap interval (each
    class's probes resampled with replacement, the same draw for both, every class weighing the same)."""
    if a.keys() != b.keys():
        raise ValueError("the two sets of scores hold different classes")
    diffs = [np.asarray(a[c], dtype=float) - np.asarray(b[c], dtype=float) for c in sorted(a, key=str)]
    if any(d.size == 0 for d in diffs):
        raise ValueError("every class needs at least one probe")
    rng = np.random.default_rng(seed)
    boot = np.zeros(n_boot)
    for d in diffs:
        boot += d[rng.integers(0, d.size, size=(n_boot, d.size))].mean(axis=1)
    boot /= len(diffs)
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return {"difference": float(np.mean([d.mean() for d in diffs])), "low": float(lo), "high": float(hi)}
