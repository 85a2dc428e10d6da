"""A gallery's own threshold from its references (pure numpy, no I/O): leave one identity out.

Non-mated: each reference is a probe against every other identity's references (the probe's identity left
out of the gallery), scored as identify scores, by its nearest reference; every identity's probes together
weigh the same in the FPIR, however many references it has. Mated: for an identity with two or
more references, each reference against the identity's other references and everyone else's; it is found
when its own identity is strictly nearest and within the threshold. The threshold is the largest whose
false-positive identification rate (FPIR) on the non-mated distances is at most the target.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from gallery.errors import GalleryTooSmall
from modelcard.identification import STATISTICS

MIN_IDENTITIES = 5  # fewer identities say nothing about strangers
MAX_PROBES = 5_000  # larger galleries calibrate on this many references sampled at random
CHUNK_ELEMENTS = 4_000_000  # probe x reference distances held at once (16 MB of float32)


@dataclass(frozen=True)
class Calibration:
    """The chosen threshold and the figures behind it."""

    threshold: float
    target_fpir: float
    identities: int
    references: int
    non_mated_probes: int
    mated_probes: int
    fpir: float
    fnir: float | None  # None: no identity has two references
    sampled: bool  # the probes are a random sample of the references


@dataclass(frozen=True)
class ProbeDistances:
    """Per probe: the nearest reference of its own identity (itself excluded; inf when it has no other) and
    the nearest reference of any other identity."""

    own: np.ndarray
    other: np.ndarray


def threshold_at_fpir(non_mated: ArrayLike, *, fpir: float, weights: ArrayLike | None = None) -> float:
    """The largest threshold (accept at or under it) whose FPIR is at most `fpir`: just under the
    floor(fpir * n) + 1-th smallest distance; 0 when that distance is 0 (no threshold does better).

    With `weights` (one per distance, e.g. 1 / its class's probe count, so that every class of strangers
    weighs the same however many images it has) the FPIR is the accepted share of the total weight."""
    d = np.asarray(non_mated, dtype=np.float64)
    if d.size == 0 or not 0 <= fpir < 1:
        raise ValueError("need non-mated distances and 0 <= fpir < 1")
    if weights is None:
        d = np.sort(d)
        allowed = int(np.floor(fpir * d.size))
    else:
        order = np.argsort(d, kind="stable")
        d, share = d[order], np.cumsum(check_weights(weights, d.size)[order])
        share /= share[-1]
        allowed = min(int(np.searchsorted(share, fpir + 1e-12, side="right")), d.size - 1)
    return max(0.0, float(np.nextafter(d[allowed], -np.inf)))


def check_weights(weights: ArrayLike, n: int) -> np.ndarray:
    """`weights` as n finite, non-negative float64 values with a positive sum; ValueError otherwise."""
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n,) or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"need {n} finite, non-negative weights with a positive sum")
    return w


def probe_distances(
    matrix: np.ndarray, labels: np.ndarray, probes: np.ndarray, *, chunk: int = CHUNK_ELEMENTS
) -> ProbeDistances:
    """Nearest own-identity and other-identity distances for the rows `probes` of `matrix`, against every
    row, reading the references in blocks so at most about `chunk` distances are held at once."""
    x = np.asarray(matrix, dtype=np.float32)
    p, p_labels = x[probes], labels[probes]
    p_norms = np.einsum("ij,ij->i", p, p)[:, None]
    own = np.full(len(probes), np.inf)
    other = np.full(len(probes), np.inf)
    block = max(1, chunk // max(1, len(probes)))
    for start in range(0, len(x), block):
        refs = x[start : start + block]
        squared = p_norms + np.einsum("ij,ij->i", refs, refs)[None, :] - 2.0 * (p @ refs.T)
        d = np.sqrt(np.maximum(squared, 0.0), dtype=np.float64)
        same = p_labels[:, None] == labels[None, start : start + block]
        itself = probes[:, None] == np.arange(start, start + len(refs))[None, :]
        own = np.minimum(own, np.where(same & ~itself, d, np.inf).min(axis=1))
        other = np.minimum(other, np.where(same, np.inf, d).min(axis=1))
    return ProbeDistances(own=own, other=other)


def centroid_probe_distances(matrix: np.ndarray, labels: np.ndarray, probes: np.ndarray) -> ProbeDistances:
    """As `probe_distances`, scored by centroids: the distance to the unit mean of the own identity's other
    references (inf when it has no other), and to the nearest other identity's centroid."""
    x = np.asarray(matrix, dtype=np.float64)
    n_ids = int(labels.max()) + 1
    sums = np.zeros((n_ids, x.shape[1]))
    np.add.at(sums, labels, x)
    counts = np.bincount(labels, minlength=n_ids)
    centres = sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
    p, own_label = x[probes], labels[probes]
    d = np.sqrt(
        np.maximum((p * p).sum(1)[:, None] + (centres * centres).sum(1)[None, :] - 2 * p @ centres.T, 0)
    )
    d[np.arange(len(probes)), own_label] = np.inf
    rest = sums[own_label] - p
    rest_unit = rest / np.maximum(np.linalg.norm(rest, axis=1, keepdims=True), 1e-12)
    own = np.where(counts[own_label] > 1, np.linalg.norm(p - rest_unit, axis=1), np.inf)
    return ProbeDistances(own=own, other=d.min(axis=1))


def identities_of_rows(ids: np.ndarray, pairs: Sequence[tuple[np.ndarray, Sequence[str]]]) -> np.ndarray:
    """The identity of each reference id in `ids`, from (ids, identities) chunks such as
    `GalleryStore.reference_identities`; every id must be among them."""
    known = np.concatenate([np.asarray(c[0], dtype=np.int64) for c in pairs] or [np.empty(0, np.int64)])
    names = np.concatenate([np.asarray(c[1], dtype=object) for c in pairs] or [np.empty(0, object)])
    order = np.argsort(known, kind="stable")
    at = np.searchsorted(known[order], ids)
    if len(ids) and (at.max() >= len(known) or not np.array_equal(known[order][at], ids)):
        raise ValueError("a reference id has no identity")
    return names[order][at]


def min_probes(target_fpir: float) -> int:
    """Non-mated probes needed to resolve `target_fpir`: one false positive must be allowed."""
    return math.ceil(1.0 / target_fpir - 1e-9)


def calibrate(
    matrix: ArrayLike,
    identities: Sequence[str] | np.ndarray,
    *,
    target_fpir: float,
    max_probes: int = MAX_PROBES,
    seed: int = 0,
    statistic: str = "nearest",
) -> Calibration:
    """The threshold at `target_fpir` for a gallery whose references are the rows of `matrix`, the i-th of
    identity `identities[i]`, scored as identify scores (`statistic`: "nearest" reference or "centroid");
    GalleryTooSmall under MIN_IDENTITIES identities or too few probes."""
    if not 0 < target_fpir < 1:
        raise ValueError(f"target_fpir must lie in (0, 1), got {target_fpir}")
    x = np.asarray(matrix, dtype=np.float32)
    names, labels = np.unique(np.asarray(identities), return_inverse=True)
    if x.ndim != 2 or len(x) != len(labels):
        raise ValueError(f"need one identity per row of an (n, dim) matrix, got {x.shape} and {len(labels)}")
    probes = sample_probes(len(x), max_probes=max_probes, seed=seed)
    check_size(identities=len(names), probes=len(probes), target_fpir=target_fpir)
    if statistic not in STATISTICS:
        raise ValueError(f"statistic must be one of {STATISTICS}, got {statistic!r}")
    score = probe_distances if statistic == "nearest" else centroid_probe_distances
    found = score(x, labels, probes)
    weights = identity_weights(labels[probes])
    threshold = threshold_at_fpir(found.other, fpir=target_fpir, weights=weights)
    mated = np.isfinite(found.own)
    accepted = (found.own < found.other) & (found.own <= threshold)
    return Calibration(
        threshold=threshold,
        target_fpir=target_fpir,
        identities=len(names),
        references=len(x),
        non_mated_probes=len(probes),
        mated_probes=int(mated.sum()),
        fpir=float(weights[found.other <= threshold].sum()),
        fnir=float(1.0 - accepted[mated].mean()) if mated.any() else None,
        sampled=len(probes) < len(x),
    )


def identity_weights(probe_labels: np.ndarray) -> np.ndarray:
    """One weight per probe, summing to 1, every identity's probes together weighing the same: an identity of
    500 references says no more about strangers than one of 5."""
    counts = np.bincount(probe_labels)
    return 1.0 / (counts[probe_labels] * np.count_nonzero(counts))


def sample_probes(references: int, *, max_probes: int, seed: int) -> np.ndarray:
    """Every reference's row, or `max_probes` of them drawn at random (seeded), ascending."""
    if references <= max_probes:
        return np.arange(references)
    return np.sort(np.random.default_rng(seed).choice(references, max_probes, replace=False))


def check_size(*, identities: int, probes: int, target_fpir: float) -> None:
    """GalleryTooSmall under MIN_IDENTITIES identities, or with too few probes to resolve `target_fpir`."""
    if identities < MIN_IDENTITIES:
        raise GalleryTooSmall(
            f"the gallery holds {identities} identities; calibration needs at least {MIN_IDENTITIES}"
        )
    if probes < min_probes(target_fpir):
        raise GalleryTooSmall(
            f"{probes} non-mated probes cannot resolve an FPIR of {target_fpir}: at least "
            f"{min_probes(target_fpir)} are needed (enroll more references, or ask for a larger target_fpir)"
        )
