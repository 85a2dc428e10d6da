"""Identity centroids for the centroid decision rule: the unit-length mean of an identity's references.

Derived data, like the index: each centroid is computed from the store (SQLite, the truth) the first time
a search needs it and dropped whenever a write touches its identity, so it is never stale. Searching by
centroid re-scores the identities the nearest-reference search found (a wider pool than asked for).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np

from gallery.types import Candidate

POOL = 8  # identities the nearest-reference search hands to the centroid rule, at the least


def centroid(matrix: np.ndarray) -> np.ndarray:
    """The unit-length mean of unit rows (float32; a zero mean stays zero)."""
    mean = np.asarray(matrix, dtype=np.float64).mean(axis=0)
    norm = np.linalg.norm(mean)
    return (mean / norm if norm > 0 else mean).astype(np.float32)


class CentroidCache:
    """Centroids by identity, read through `load` (an identity's reference matrix) and dropped on writes.

    Not thread-safe on its own: the gallery calls it under its lock."""

    def __init__(self, load: Callable[[str], np.ndarray]) -> None:
        self._load = load
        self._centroids: dict[str, np.ndarray] = {}

    def get(self, identities: Sequence[str]) -> np.ndarray:
        """(n, dim) centroids of `identities`, in order."""
        for name in identities:
            if name not in self._centroids:
                self._centroids[name] = centroid(self._load(name))
        return np.stack([self._centroids[name] for name in identities])

    def forget(self, identities: Iterable[str]) -> None:
        for name in identities:
            self._centroids.pop(name, None)

    def rescore(self, query: np.ndarray, candidates: Sequence[Candidate], *, top_k: int) -> list[Candidate]:
        """The candidates re-scored by the distance from `query` to each identity's centroid, nearest first
        (each keeps its nearest reference's id), at most top_k."""
        if not candidates:
            return []
        centres = self.get([c.identity for c in candidates])
        d = np.linalg.norm(centres - query[None, :], axis=1)
        rows = [Candidate(c.identity, float(x), c.reference_id) for c, x in zip(candidates, d, strict=True)]
        return sorted(rows, key=lambda c: c.distance)[:top_k]
