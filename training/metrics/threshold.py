"""Choosing the service's distance threshold on validation pairs for a target false-accept rate (pure)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from training.metrics.verification import as_verification_inputs, equal_error_rate


def threshold_for_far(impostor_distances: np.ndarray, *, target_far: float) -> float:
    """A threshold that accepts at most floor(target_far * n) of the n impostor distances (d <= t).

    It lies halfway between the largest impostor distance it may accept and the smallest it must reject
    (just below the latter when nothing below it may be accepted), rather than on either one.
    """
    d = np.sort(np.asarray(impostor_distances, dtype=np.float64).ravel())
    if len(d) == 0 or not np.isfinite(d).all():
        raise ValueError("need at least one finite impostor distance")
    if not 0 <= target_far < 1:
        raise ValueError(f"target_far must be in [0, 1), got {target_far}")
    reject = d[int(np.floor(target_far * len(d) + 1e-9))]  # the smallest distance that must be rejected
    below = d[d < reject]
    just_below = float(np.nextafter(reject, -np.inf))
    if len(below) == 0:
        return just_below
    return min(float((below[-1] + reject) / 2), just_below)


def tune_threshold(distances: ArrayLike, same: ArrayLike, *, target_far: float = 0.01) -> dict:
    """The threshold for `target_far` on these pairs, with its achieved FAR and TAR, and the EER point.

    Keys value, target_far, method and eer_threshold map onto `modelcard.Threshold`.
    """
    d, s = as_verification_inputs(distances, same)
    value = threshold_for_far(d[~s], target_far=target_far)
    eer, eer_threshold = equal_error_rate(d, s)
    return {
        "value": value,
        "target_far": float(target_far),
        "method": "far",
        "achieved_far": float(np.mean(d[~s] <= value)),
        "tar": float(np.mean(d[s] <= value)),
        "eer": eer,
        "eer_threshold": eer_threshold,
    }
