"""Closed-set k-shot and open-set identification against enrolled references (nearest reference wins)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from training.metrics.distances import as_embeddings_and_labels, class_members, nearest


def enroll(
    members: dict[object, np.ndarray], rng: np.random.Generator, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """(references, probes): k random images of every class as references, the rest as probes."""
    picked = [rng.permutation(m) for m in members.values()]
    return np.concatenate([p[:k] for p in picked]), np.concatenate([p[k:] for p in picked])


def kshot_top1(emb: ArrayLike, labels: ArrayLike, *, k: int, seed: int, n_rounds: int = 1) -> float:
    """Closed-set k-shot top-1 identification accuracy, the mean over `n_rounds` random enrolments.

    Each class with more than k images enrols k random references; its other images are probes, each
    given the class of its nearest reference. Classes with <= k images are left out.
    """
    return float(
        np.mean([np.mean(hit) for _, hit in _kshot_rounds(emb, labels, k=k, seed=seed, n_rounds=n_rounds)])
    )


def kshot_top1_by_class(
    emb: ArrayLike, labels: ArrayLike, *, k: int, seed: int, n_rounds: int = 1
) -> dict[object, float]:
    """Per class, the share of its probes given the right class, over the same enrolments as `kshot_top1`
    (same k, seed and n_rounds). Their mean is the macro (per-class) figure, where every class weighs the
    same; `kshot_top1` is the micro one, where every probe does."""
    hits: dict[object, list[bool]] = {}
    for probe_labels, hit in _kshot_rounds(emb, labels, k=k, seed=seed, n_rounds=n_rounds):
        for label, h in zip(probe_labels.tolist(), hit.tolist(), strict=True):
            hits.setdefault(label, []).append(h)
    return {label: float(np.mean(h)) for label, h in sorted(hits.items())}


def _kshot_rounds(
    emb: ArrayLike, labels: ArrayLike, *, k: int, seed: int, n_rounds: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(probe labels, probe identified correctly) of each of n_rounds random k-shot enrolments."""
    emb, labels = as_embeddings_and_labels(emb, labels)
    if k < 1 or n_rounds < 1:
        raise ValueError(f"need k >= 1 and n_rounds >= 1, got {k} and {n_rounds}")
    members = class_members(labels, min_count=k + 1)
    if len(members) < 2:
        raise ValueError(f"need at least 2 classes with more than {k} images")
    rng = np.random.default_rng(seed)
    rounds = []
    for _ in range(n_rounds):
        refs, probes = enroll(members, rng, k)
        idx, _ = nearest(emb[probes], emb[refs])
        rounds.append((labels[probes], labels[refs][idx] == labels[probes]))
    return rounds


def open_set_identification(
    emb: ArrayLike,
    labels: ArrayLike,
    *,
    k: int,
    threshold: float,
    unknown_fraction: float = 0.5,
    seed: int,
    unknown_labels: ArrayLike | None = None,
) -> dict:
    """Open-set identification at a distance threshold, with known (enrolled) and unknown classes.

    Classes with more than k images are split at random (or by `unknown_labels`, whose classes may be of
    any size): known ones enrol k random references and their other images are probes; every image of an
    unknown class is a probe. A probe is accepted when its nearest reference is within `threshold`.
    known_correct_accept (the detection and identification rate) counts known probes accepted with the
    right class; known_accept, known probes accepted at all; unknown_reject, unknown probes rejected.
    """
    emb, labels = as_embeddings_and_labels(emb, labels)
    rng = np.random.default_rng(seed)
    known, unknown = _split_known_unknown(labels, k, unknown_fraction, unknown_labels, rng)
    refs, probes = enroll(known, rng, k)
    strangers = np.concatenate(list(unknown.values()))
    idx, dist = nearest(emb[probes], emb[refs])
    _, dist_unknown = nearest(emb[strangers], emb[refs])
    accepted = dist <= threshold
    return {
        "known_correct_accept": float(np.mean(accepted & (labels[refs][idx] == labels[probes]))),
        "known_accept": float(np.mean(accepted)),
        "unknown_reject": float(np.mean(dist_unknown > threshold)),
        "threshold": float(threshold),
        "k": k,
        "n_known_classes": len(known),
        "n_unknown_classes": len(unknown),
        "n_known_probes": len(probes),
        "n_unknown_probes": len(strangers),
    }


def _split_known_unknown(
    labels: np.ndarray, k: int, fraction: float, unknown_labels: ArrayLike | None, rng: np.random.Generator
) -> tuple[dict[object, np.ndarray], dict[object, np.ndarray]]:
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if unknown_labels is not None:
        chosen = set(np.asarray(unknown_labels).tolist())
        unknown = {c: m for c, m in class_members(labels).items() if c in chosen}
        known = {c: m for c, m in class_members(labels, min_count=k + 1).items() if c not in chosen}
    else:
        if not 0 < fraction < 1:
            raise ValueError(f"unknown_fraction must be in (0, 1), got {fraction}")
        eligible = class_members(labels, min_count=k + 1)
        names = list(eligible)
        n_unknown = min(max(1, round(fraction * len(names))), len(names) - 1)
        chosen = {names[i] for i in rng.permutation(len(names))[:n_unknown]}
        unknown = {c: m for c, m in eligible.items() if c in chosen}
        known = {c: m for c, m in eligible.items() if c not in chosen}
    if not known or not unknown:
        raise ValueError(f"need at least one known class with more than {k} images and one unknown class")
    return known, unknown
