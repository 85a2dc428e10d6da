"""Macro (per-class mean) k-shot top-1 against a reference pool, with novel classes enrolled from their own images.

Known classes draw k references from the pool (e.g. training images); a probe class the pool lacks enrols k of
its own probes instead, so classes never trained on are measured among the known ones.
"""

from __future__ import annotations

import numpy as np

from training.evaluation.distances import nearest


def macro(by_class: dict[object, float]) -> float:
    """The mean of per-class figures (every class weighs the same); NaN when there is none."""
    return float(np.mean(list(by_class.values()))) if by_class else float("nan")


def macro_micro(hits: dict[object, np.ndarray]) -> dict[str, float | int]:
    """{"macro": the mean of each class's hit rate, "micro": the hit rate over every probe, "classes": how many}."""
    if not hits:
        return {"macro": float("nan"), "micro": float("nan"), "classes": 0}
    return {
        "macro": macro({c: float(np.mean(h)) for c, h in hits.items()}),
        "micro": float(np.mean(np.concatenate(list(hits.values())))),
        "classes": len(hits),
    }


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
    """Per probe class, whether each of its probes' nearest reference is of its class, over n_rounds rounds.

    Each round draws k references per pool class (all it has when fewer), and k of its own probes for each
    probe class the pool lacks (classes with no probe left after that are skipped); the rest are probes.
    """
    if k < 1 or n_rounds < 1:
        raise ValueError(f"need k >= 1 and n_rounds >= 1, got {k} and {n_rounds}")
    pool = sorted(set(np.asarray(ref_labels).tolist()))
    novel = [c for c in np.unique(probe_labels).tolist() if c not in pool and np.sum(probe_labels == c) > k]
    rng = np.random.default_rng(seed)
    hits: dict[object, list[bool]] = {}
    for _ in range(n_rounds):
        refs = np.concatenate([rng.permutation(np.flatnonzero(ref_labels == c))[:k] for c in pool] + [[]])
        own = [rng.permutation(np.flatnonzero(probe_labels == c))[:k] for c in novel]
        enrolled = np.concatenate(own + [[]]).astype(int)
        emb = np.concatenate([ref_emb[refs.astype(int)], probe_emb[enrolled]])
        labels = np.concatenate([np.asarray(ref_labels)[refs.astype(int)], probe_labels[enrolled]])
        probes = np.setdiff1d(np.flatnonzero(np.isin(probe_labels, pool + novel)), enrolled)
        idx, _ = nearest(probe_emb[probes], emb)
        correct = labels[idx] == probe_labels[probes]
        for label, hit in zip(probe_labels[probes].tolist(), correct.tolist(), strict=True):
            hits.setdefault(label, []).append(hit)
    return {label: np.asarray(h) for label, h in sorted(hits.items())}
