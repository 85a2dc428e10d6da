"""Verification metrics on scored pairs: pair sampling, ROC, AUC, EER, TAR at FAR and accuracy.

A pair is accepted as "same" when its L2 distance is <= the threshold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike


def sample_verification_pairs(
    labels: ArrayLike, *, n_pairs: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random image pairs (i, j, same): n_pairs // 2 same-class pairs, the rest different-class, shuffled.

    Same pairs: a random image whose class has >= 2 images, with another image of its class. Different
    pairs: a random image with a random image of another class. Pairs are drawn with replacement; i != j.
    """
    if n_pairs < 2:
        raise ValueError(f"n_pairs must be at least 2, got {n_pairs}")
    by_class = _ByClass.of(np.asarray(labels))
    if len(by_class.counts) < 2 or by_class.counts.max() < 2:
        raise ValueError("need at least 2 classes and one class with >= 2 images to sample pairs")
    rng = np.random.default_rng(seed)
    n_same = n_pairs // 2
    i_same, j_same = by_class.same_pairs(rng, n_same)
    i_diff, j_diff = by_class.different_pairs(rng, n_pairs - n_same)
    perm = rng.permutation(n_pairs)
    same = np.arange(n_pairs) < n_same
    return np.concatenate([i_same, i_diff])[perm], np.concatenate([j_same, j_diff])[perm], same[perm]


@dataclass(frozen=True)
class _ByClass:
    """Images grouped by class: `order` lists image indices class by class; class c is
    order[start[c] : start[c] + counts[c]]; cls[i] is image i's class."""

    cls: np.ndarray
    counts: np.ndarray
    order: np.ndarray
    start: np.ndarray

    @classmethod
    def of(cls, labels: np.ndarray) -> _ByClass:
        _, inv, counts = np.unique(labels, return_inverse=True, return_counts=True)
        start = np.concatenate([[0], np.cumsum(counts)[:-1]])
        return cls(cls=inv, counts=counts, order=np.argsort(inv, kind="stable"), start=start)

    def same_pairs(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        rank = np.empty(len(self.cls), dtype=np.int64)  # each image's place within its class
        rank[self.order] = np.arange(len(self.cls)) - self.start[self.cls[self.order]]
        i = rng.choice(np.flatnonzero(self.counts[self.cls] >= 2), size=n)
        other = rng.integers(0, self.counts[self.cls[i]] - 1)  # skips i's own place below
        return i, self.order[self.start[self.cls[i]] + other + (other >= rank[i])]

    def different_pairs(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        i = rng.integers(0, len(self.cls), size=n)
        c = self.cls[i]
        pos = rng.integers(0, len(self.cls) - self.counts[c])  # a place in `order` outside class c
        return i, self.order[np.where(pos < self.start[c], pos, pos + self.counts[c])]


def as_verification_inputs(distances: ArrayLike, same: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    d, s = np.asarray(distances, dtype=np.float64), np.asarray(same).astype(bool)
    if d.ndim != 1 or d.shape != s.shape:
        raise ValueError(f"distances and same must be 1-D of equal length, got {d.shape} and {s.shape}")
    if s.all() or not s.any():
        raise ValueError("need both genuine (same) and impostor (different) pairs")
    if not np.isfinite(d).all():
        raise ValueError("distances must be finite")
    return d, s


def roc_curve(distances: ArrayLike, same: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(far, tar, thresholds), thresholds ascending: every distinct distance, after one just below the
    smallest (accepting nothing). far = impostor pairs with d <= t; tar = genuine pairs with d <= t."""
    d, s = as_verification_inputs(distances, same)
    thresholds = np.unique(d)
    tar = np.searchsorted(np.sort(d[s]), thresholds, side="right") / s.sum()
    far = np.searchsorted(np.sort(d[~s]), thresholds, side="right") / (~s).sum()
    below = np.nextafter(thresholds[0], -np.inf)
    return np.concatenate([[0.0], far]), np.concatenate([[0.0], tar]), np.concatenate([[below], thresholds])


def roc_auc(distances: ArrayLike, same: ArrayLike) -> float:
    """Area under the ROC curve (trapezoids; a tied genuine/impostor pair counts one half)."""
    far, tar, _ = roc_curve(distances, same)
    return float(np.trapezoid(tar, far))


def equal_error_rate(distances: ArrayLike, same: ArrayLike) -> tuple[float, float]:
    """(eer, threshold) at the distinct distance where |FAR - FRR| is smallest (the lowest such one);
    eer is the mean of FAR and FRR there."""
    far, tar, thresholds = roc_curve(distances, same)
    far, frr, thresholds = far[1:], 1.0 - tar[1:], thresholds[1:]
    i = int(np.argmin(np.abs(far - frr)))
    return float((far[i] + frr[i]) / 2), float(thresholds[i])


def tar_at_far(distances: ArrayLike, same: ArrayLike, *, far: float) -> tuple[float, float]:
    """(tar, threshold) at the largest ROC threshold whose FAR is <= far."""
    if not 0 <= far <= 1:
        raise ValueError(f"far must be in [0, 1], got {far}")
    far_curve, tar, thresholds = roc_curve(distances, same)
    i = int(np.flatnonzero(far_curve <= far + 1e-12)[-1])
    return float(tar[i]), float(thresholds[i])


def verification_accuracy(distances: ArrayLike, same: ArrayLike, *, threshold: float) -> float:
    """Fraction of pairs decided right: genuine pairs with d <= threshold, impostors with d > threshold."""
    d, s = as_verification_inputs(distances, same)
    return float(np.mean((d <= threshold) == s))
