"""Macro (per-class mean) k-shot top-1 against a reference pool, with novel classes enrolled from their own images.

Known classes draw k references from the pool (e.g. training images); a probe class the pool lacks enrols k of
its own probes instead, so classes never trained on are measured among the known ones.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from training.metrics.distances import nearest


def macro(by_class: dict[object, float]) -> float:
    """The mean of per-class figures (every class weighs the same); NaN when there is none."""
    return float(np.mean(list(by_class.values()))) if by_class else float("nan")


def macro_micro(hits: dict[object, np.ndarray], *, rounds: int | None = None) -> dict[str, Any]:
    """{"macro": the mean of each class's hit rate, "micro": the hit rate over every probe, "classes": how many};
    with `rounds` (the hits are that many enrolments, each of len(hits) / rounds probes, as `pooled_kshot_hits`
    gives them), also "macro_ci95": [low, high], the macro figure's 95 % interval (`macro_posterior_interval`)."""
    if not hits:
        return {"macro": float("nan"), "micro": float("nan"), "classes": 0}
    out: dict[str, Any] = {
        "macro": macro({c: float(np.mean(h)) for c, h in hits.items()}),
        "micro": float(np.mean(np.concatenate(list(hits.values())))),
        "classes": len(hits),
    }
    if rounds is not None:
        out["macro_ci95"] = list(
            macro_posterior_interval({c: (float(np.mean(h)), len(h) // rounds) for c, h in hits.items()})
        )
    return out


def macro_posterior_interval(
    rates: dict[object, tuple[float, int]], *, n_draws: int = 4000, seed: int = 0
) -> tuple[float, float]:
    """95 % interval of the macro (per-class mean) hit rate from each class's (hit rate, distinct probes n):
    each class's rate drawn from its Jeffreys posterior Beta(h + 1/2, n - h + 1/2), h = rate x n, and the
    draws averaged over the classes. Unlike a bootstrap over the probes, a class of 3 probes all right still
    leaves room below 100 %, and a novel class's probes (other images in each enrolment) need no pairing
    across rounds. The classes themselves are taken as given."""
    if not rates or any(n < 1 for _, n in rates.values()):
        raise ValueError("every class needs at least one probe")
    rng = np.random.default_rng(seed)
    draws = np.zeros(n_draws)
    for c in sorted(rates, key=str):
        rate, n = rates[c]
        h = rate * n
        draws += rng.beta(h + 0.5, n - h + 0.5, size=n_draws)
    draws /= len(rates)
    low, high = np.percentile(draws, [2.5, 97.5])
    return float(low), float(high)


def pooled_kshot_by_class(
    ref_emb: np.ndarray,
    ref_labels: np.ndarray,
    probe_emb: np.ndarray,
    probe_labels: np.ndarray,
    *,
    k: int,
    seed: int,
    n_rounds: int = 1,
) -> dict[object, float]:
    """Per probe class, the share of its probes identified right (`pooled_kshot_hits`)."""
    hits = pooled_kshot_hits(ref_emb, ref_labels, probe_emb, probe_labels, k=k, seed=seed, n_rounds=n_rounds)
    return {c: float(np.mean(h)) for c, h in hits.items()}


def pooled_kshot_hits(
    ref_emb: np.ndarray,
    ref_labels: np.ndarray,
    probe_emb: np.ndarray,
    probe_labels: np.ndarray,
    *,
    k: int,
    seed: int,
    n_rounds: int = 1,
) -> dict[object, np.ndarray]:
    """Per probe class, whether each of its probes' nearest reference is of its class (`pooled_kshot_predictions`)."""
    predictions = pooled_kshot_predictions(
        ref_emb, ref_labels, probe_emb, probe_labels, k=k, seed=seed, n_rounds=n_rounds
    )
    return {label: np.asarray(p) == label for label, p in predictions.items()}


def pooled_kshot_predictions(
    ref_emb: np.ndarray,
    ref_labels: np.ndarray,
    probe_emb: np.ndarray,
    probe_labels: np.ndarray,
    *,
    k: int,
    seed: int,
    n_rounds: int = 1,
) -> dict[object, np.ndarray]:
    """Per probe class, the class of each of its probes' nearest reference, over n_rounds rounds.

    Each round draws k references per pool class (all it has when fewer), and k of its own probes for each
    probe class the pool lacks (classes with no probe left after that are skipped); the rest are probes.
    """
    if k < 1 or n_rounds < 1:
        raise ValueError(f"need k >= 1 and n_rounds >= 1, got {k} and {n_rounds}")
    pool = sorted(set(np.asarray(ref_labels).tolist()))
    novel = [c for c in np.unique(probe_labels).tolist() if c not in pool and np.sum(probe_labels == c) > k]
    rng = np.random.default_rng(seed)
    predicted: dict[object, list[object]] = {}
    for _ in range(n_rounds):
        refs = np.concatenate([rng.permutation(np.flatnonzero(ref_labels == c))[:k] for c in pool] + [[]])
        own = [rng.permutation(np.flatnonzero(probe_labels == c))[:k] for c in novel]
        enrolled = np.concatenate(own + [[]]).astype(int)
        emb = np.concatenate([ref_emb[refs.astype(int)], probe_emb[enrolled]])
        labels = np.concatenate([np.asarray(ref_labels)[refs.astype(int)], probe_labels[enrolled]])
        probes = np.setdiff1d(np.flatnonzero(np.isin(probe_labels, pool + novel)), enrolled)
        idx, _ = nearest(probe_emb[probes], emb)
        for label, guess in zip(probe_labels[probes].tolist(), labels[idx].tolist(), strict=True):
            predicted.setdefault(label, []).append(guess)
    return {label: np.asarray(p) for label, p in sorted(predicted.items())}


def confusion_counts(predictions: dict[object, np.ndarray]) -> tuple[list[object], np.ndarray]:
    """(classes, counts): counts[i, j] is how often a probe of classes[i] was answered classes[j]; classes are
    every true and every predicted class, sorted."""
    classes = sorted(
        set(predictions) | {p for guesses in predictions.values() for p in np.asarray(guesses).tolist()}
    )
    index = {c: i for i, c in enumerate(classes)}
    counts = np.zeros((len(classes), len(classes)), dtype=np.int64)
    for label, guesses in predictions.items():
        for guess in np.asarray(guesses).tolist():
            counts[index[label], index[guess]] += 1
    return classes, counts
