"""N-way k-shot accuracy over random tasks, optionally all within one group (Lake's within-alphabet runs)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from training.metrics.distances import as_embeddings_and_labels, class_members, nearest


def nway_kshot_accuracy(
    emb: ArrayLike,
    labels: ArrayLike,
    *,
    n_way: int,
    k_shot: int,
    n_tasks: int,
    seed: int,
    groups: np.ndarray | None = None,
    n_query: int = 1,
) -> dict:
    """Mean accuracy of random n-way k-shot tasks: {"accuracy", "ci95", "tasks"}.

    A task draws n_way classes (with `groups`, one per image, all from one group drawn uniformly among
    groups with >= n_way usable classes: Lake et al.'s within-alphabet runs), then k_shot support and
    n_query query images per class, all distinct. Each query takes the class of its nearest support image.
    Classes with fewer than k_shot + n_query images are not used. ci95 = 1.96 * std / sqrt(tasks).
    """
    emb, labels = as_embeddings_and_labels(emb, labels)
    if n_way < 2 or k_shot < 1 or n_query < 1 or n_tasks < 1:
        raise ValueError("need n_way >= 2, k_shot >= 1, n_query >= 1 and n_tasks >= 1")
    pools = _task_pools(labels, groups, need=k_shot + n_query, n_way=n_way)
    rng = np.random.default_rng(seed)
    accs = np.array(
        [_run_task(emb, pools[rng.integers(len(pools))], rng, n_way, k_shot, n_query) for _ in range(n_tasks)]
    )
    return {
        "accuracy": float(accs.mean()),
        "ci95": float(1.96 * accs.std() / np.sqrt(n_tasks)),
        "tasks": n_tasks,
    }


def _task_pools(
    labels: np.ndarray, groups: ArrayLike | None, *, need: int, n_way: int
) -> list[list[np.ndarray]]:
    """Per group (or one for all), the image indices of each class with >= need images; groups with
    fewer than n_way such classes are left out."""
    members = class_members(labels)
    usable = {c: m for c, m in members.items() if len(m) >= need}
    if groups is None:
        pools = [list(usable.values())]
    else:
        groups = np.asarray(groups)
        if groups.shape != labels.shape:
            raise ValueError(f"groups must have one entry per image, got {groups.shape} for {labels.shape}")
        by_group: dict[object, list[np.ndarray]] = {}
        for c, m in usable.items():
            if len(np.unique(groups[m])) != 1:
                raise ValueError(f"class {c!r} spans several groups")
            by_group.setdefault(groups[m[0]], []).append(m)
        pools = list(by_group.values())
    pools = [pool for pool in pools if len(pool) >= n_way]
    if not pools:
        where = "any one group" if groups is not None else "the set"
        raise ValueError(f"{where} has fewer than {n_way} classes with >= {need} images")
    return pools


def _run_task(
    emb: np.ndarray, pool: list[np.ndarray], rng: np.random.Generator, n_way: int, k_shot: int, n_query: int
) -> float:
    picked = [
        rng.choice(pool[c], size=k_shot + n_query, replace=False)
        for c in rng.choice(len(pool), n_way, replace=False)
    ]
    support = np.concatenate([p[:k_shot] for p in picked])
    query = np.concatenate([p[k_shot:] for p in picked])
    idx, _ = nearest(emb[query], emb[support])
    return float(np.mean(idx // k_shot == np.arange(len(query)) // n_query))
