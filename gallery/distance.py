"""The "l2" metric: L2 distance between L2-normalized vectors, converted to and from cosine similarity.

For unit vectors a and b, |a - b|^2 = 2 - 2 a.b, so d = sqrt(max(0, 2 - 2 s)) lies in [0, 2].
"""

from __future__ import annotations

import numpy as np

METRICS = ("l2",)


def similarity_to_l2(similarity: float | np.ndarray) -> float | np.ndarray:
    """Cosine similarity s of unit vectors -> their L2 distance sqrt(max(0, 2 - 2 s))."""
    s = np.asarray(similarity, dtype=np.float64)
    d = np.sqrt(np.maximum(0.0, 2.0 - 2.0 * s))
    return float(d) if d.ndim == 0 else d


def l2_to_similarity(distance: float | np.ndarray) -> float | np.ndarray:
    """L2 distance d of unit vectors -> their cosine similarity 1 - d^2 / 2."""
    d = np.asarray(distance, dtype=np.float64)
    s = 1.0 - d * d / 2.0
    return float(s) if s.ndim == 0 else s
