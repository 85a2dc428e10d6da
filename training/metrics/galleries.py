"""Open-set identification as the service does it, simulated: galleries of G identities x k references,
probes of enrolled identities (mated) and of identities never enrolled (non-mated).

FPIR (false-positive identification rate): the share of non-mated probes answered as someone, each class of
strangers weighing the same (a class of 800 images counts no more than one of 3; `fpir_micro`: every probe
the same). FNIR (false
negative identification rate): the share of mated probes not answered as their own identity. A threshold at a
target FPIR grows stricter as G grows (more references for a stranger to fall near): the table of
`identification_thresholds` gives it per (G, k), measured on identities the model never trained on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from gallery.calibration import check_weights, threshold_at_fpir  # one rule for training and the service
from gallery.centroids import centroid
from modelcard.identification import STATISTICS
from training.metrics.distances import as_embeddings_and_labels, class_members, pairwise_l2


@dataclass(frozen=True)
class GalleryTrials:
    """Nearest-reference distances of mated probes (and whether that reference was their identity) and of
    non-mated probes, pooled over every simulated gallery; `non_mated_weights` sum to 1, each gallery's share
    split evenly between its classes of strangers and within a class between its probes (None: all equal);
    `non_mated_labels` and `non_mated_nearest` give each non-mated probe's class and the enrolled class it
    was nearest to."""

    mated: np.ndarray
    mated_correct: np.ndarray
    non_mated: np.ndarray
    non_mated_weights: np.ndarray | None = None
    non_mated_labels: np.ndarray | None = None
    non_mated_nearest: np.ndarray | None = None


SCORINGS = (*STATISTICS, "mean")  # the service's statistics, and the mean distance, measured for comparison


def identity_scores(
    probes: np.ndarray, refs: np.ndarray, ref_ids: np.ndarray, *, statistic: str
) -> np.ndarray:
    """(n_probes, n_identities) scores, lower is nearer; identities are 0..n-1 (`ref_ids` per reference).

    nearest: the distance to the identity's nearest reference (what the service searches); mean: the mean
    distance to its references; centroid: the distance to the unit-length mean of its references."""
    n = int(ref_ids.max()) + 1
    if statistic == "centroid":  # the service's own centroid (gallery.centroids)
        return pairwise_l2(probes, np.stack([centroid(refs[ref_ids == i]) for i in range(n)]))
    d = pairwise_l2(probes, refs)
    if statistic == "nearest":
        out = np.full((len(probes), n), np.inf)
        for i in range(n):
            out[:, i] = d[:, ref_ids == i].min(axis=1)
        return out
    if statistic == "mean":
        return np.stack([d[:, ref_ids == i].mean(axis=1) for i in range(n)], axis=1)
    raise ValueError(f"statistic must be one of {SCORINGS}, got {statistic!r}")


def simulate_galleries(
    emb: ArrayLike,
    labels: ArrayLike,
    *,
    identities: int,
    k: int,
    rounds: int,
    seed: int,
    statistic: str = "nearest",
) -> GalleryTrials:
    """`rounds` galleries: each enrolls `identities` random classes with more than k images (k random
    references each; their other images are mated probes), and every image of the other classes is a
    non-mated probe, weighted so that each of those classes weighs the same; a probe's score is its nearest
    identity's by `statistic` (see `identity_scores`).
    ValueError when fewer than identities + 1 classes have more than k images."""
    emb, labels = as_embeddings_and_labels(emb, labels)
    members = class_members(labels, min_count=1)
    eligible = [c for c, m in members.items() if len(m) > k]
    if identities < 1 or len(eligible) < identities + 1:
        raise ValueError(
            f"need at least {identities + 1} classes with more than {k} images, have {len(eligible)}"
        )
    rng = np.random.default_rng(seed)
    mated, correct, non_mated, weights, nearest = [], [], [], [], []
    for _ in range(rounds):
        enrolled = set(rng.choice(len(eligible), identities, replace=False).tolist())
        chosen = [eligible[i] for i in sorted(enrolled)]
        picked = [rng.permutation(members[c]) for c in chosen]
        refs = np.concatenate([p[:k] for p in picked])
        probes = np.concatenate([p[k:] for p in picked])
        others = [m for c, m in members.items() if c not in set(chosen)]
        strangers = np.concatenate(others)
        weights.append(
            np.concatenate([np.full(len(m), 1.0 / (len(m) * len(others) * rounds)) for m in others])
        )
        ref_ids = np.repeat(np.arange(len(chosen)), k)
        scores = identity_scores(emb[probes], emb[refs], ref_ids, statistic=statistic)
        mated.append(scores.min(axis=1))
        correct.append(np.asarray(chosen)[scores.argmin(axis=1)] == labels[probes])
        stranger_scores = identity_scores(emb[strangers], emb[refs], ref_ids, statistic=statistic)
        non_mated.append(stranger_scores.min(axis=1))
        nearest.append((strangers, np.asarray(chosen)[stranger_scores.argmin(axis=1)]))
    return GalleryTrials(
        np.concatenate(mated),
        np.concatenate(correct),
        np.concatenate(non_mated),
        np.concatenate(weights),
        labels[np.concatenate([s for s, _ in nearest])],
        np.concatenate([n for _, n in nearest]),
    )


def fpir_at(non_mated: ArrayLike, *, threshold: float, weights: ArrayLike | None = None) -> float:
    """The share of non-mated probes at or under `threshold`: of their total weight when `weights` is given."""
    accepted = np.asarray(non_mated) <= threshold
    if weights is None:
        return float(np.mean(accepted))
    w = check_weights(weights, accepted.size)
    return float(w[accepted].sum() / w.sum())


def fnir_at(trials: GalleryTrials, *, threshold: float) -> float:
    """Mated probes not answered as their own identity: too far, or nearest to someone else."""
    return float(1.0 - np.mean(trials.mated_correct & (trials.mated <= threshold)))


def identification_thresholds(
    emb: ArrayLike,
    labels: ArrayLike,
    *,
    sizes: tuple[int, ...],
    ks: tuple[int, ...],
    fpirs: tuple[float, ...],
    rounds: int,
    seed: int,
    statistic: str = "nearest",
) -> list[dict]:
    """One row per (G, k) the classes allow (`sizes_that_fit`) and FPIR: the threshold at that FPIR, and the
    FNIR there."""
    rows = []
    fit = sizes_that_fit(sizes, n_classes=len(np.unique(np.asarray(labels))))
    for k in ks:
        for g in fit:
            try:
                trials = simulate_galleries(
                    emb, labels, identities=g, k=k, rounds=rounds, seed=seed, statistic=statistic
                )
            except ValueError:
                continue
            for fpir in fpirs:
                t = threshold_at_fpir(trials.non_mated, fpir=fpir, weights=trials.non_mated_weights)
                rows.append(
                    {
                        "identities": g,
                        "k": k,
                        "fpir": fpir,
                        "threshold": t,
                        "fnir": fnir_at(trials, threshold=t),
                    }
                )
    return rows


def sizes_that_fit(sizes: tuple[int, ...], *, n_classes: int) -> tuple[int, ...]:
    """The gallery sizes `n_classes` classes can measure, each gallery with as many classes of strangers beside
    it as it enrolls (2G <= n_classes); when a size does not fit, the largest that does (n_classes // 2) takes
    its place, so that the table reaches as far as the classes allow (a larger gallery's threshold is
    extrapolated from the table's, and a longer reach extrapolates less), unless it is within a quarter of the
    largest size kept (a second, noisier point beside it would add nothing)."""
    fit = sorted({g for g in sizes if 2 * g <= n_classes})
    largest = n_classes // 2
    if len(fit) < len(set(sizes)) and largest >= 1 and (not fit or largest >= 1.25 * fit[-1]):
        fit.append(largest)
    return tuple(fit)


def balanced_fpir(rows: list[dict], *, k: int) -> float:
    """The FPIR whose rows (at references per identity `k`) have the best mean balanced open-set accuracy,
    ((1 - FNIR) + (1 - FPIR)) / 2 averaged over the gallery sizes; the smaller FPIR on a tie."""
    fpirs = sorted({r["fpir"] for r in rows if r["k"] == k})
    if not fpirs:
        raise ValueError(f"no rows at k={k}")

    def balanced(f: float) -> float:
        at = [r for r in rows if r["k"] == k and r["fpir"] == f]
        return float(np.mean([(1 - r["fnir"] + 1 - f) / 2 for r in at]))

    return max(fpirs, key=lambda f: (balanced(f), -f))


def figures_at(
    emb: ArrayLike,
    labels: ArrayLike,
    *,
    table: list[dict],
    rounds: int,
    seed: int,
    statistic: str = "nearest",
) -> list[dict]:
    """Each row's threshold applied to galleries of the same (G, k) drawn from other data (the test split):
    the FPIR (each class of strangers weighing the same, and `fpir_micro`, each probe) and FNIR a user would
    see, beside the FPIR the row was tuned for."""
    out, trials = [], {}
    for row in table:
        g, k = row["identities"], row["k"]
        if (g, k) not in trials:
            try:
                trials[g, k] = simulate_galleries(
                    emb, labels, identities=g, k=k, rounds=rounds, seed=seed, statistic=statistic
                )
            except ValueError:
                trials[g, k] = None
        if trials[g, k] is None:
            continue
        t = row["threshold"]
        found = trials[g, k]
        measured = {
            "fpir": fpir_at(found.non_mated, threshold=t, weights=found.non_mated_weights),
            "fpir_micro": fpir_at(found.non_mated, threshold=t),
            "fnir": fnir_at(found, threshold=t),
        }
        out.append({"identities": g, "k": k, "target_fpir": row["fpir"], "threshold": t, **measured})
    return out
