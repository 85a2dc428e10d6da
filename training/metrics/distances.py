"""Nearest-neighbour building blocks shared by the metrics: L2 distances, nearest reference, class index."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

_CHUNK_ELEMENTS = 1 << 24  # distance-matrix cells per block when searching the nearest reference


def pairwise_l2(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(n, m) L2 distances between the rows of a (n, d) and b (m, d), in float64, clipped at 0."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"need (n, d) and (m, d) arrays, got shapes {a.shape} and {b.shape}")
    sq = (a * a).sum(axis=1)[:, None] + (b * b).sum(axis=1)[None, :] - 2.0 * (a @ b.T)
    return np.sqrt(np.clip(sq, 0.0, None))


def nearest(queries: np.ndarray, refs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of and distance to each query's nearest reference (first one on ties), in bounded memory: a block
    of queries holds at most about `_CHUNK_ELEMENTS` distances and as many float64 values of its own."""
    idx = np.empty(len(queries), dtype=np.int64)
    dist = np.empty(len(queries), dtype=np.float64)
    width = queries.shape[1] if np.ndim(queries) == 2 else 1
    step = max(1, _CHUNK_ELEMENTS // max(1, len(refs), width))
    for s in range(0, len(queries), step):
        block = pairwise_l2(queries[s : s + step], refs)
        idx[s : s + step] = block.argmin(axis=1)
        dist[s : s + step] = block[np.arange(len(block)), idx[s : s + step]]
    return idx, dist


def as_embeddings_and_labels(emb: ArrayLike, labels: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """(n, d) floating-point embeddings (float32 ones kept as they are, without a float64 copy: every distance
    here is worked out in float64 block by block) and (n,) labels, or ValueError."""
    emb, labels = np.asarray(emb), np.asarray(labels)
    if not np.issubdtype(emb.dtype, np.floating):
        emb = emb.astype(np.float64)
    if emb.ndim != 2 or labels.ndim != 1 or len(labels) != len(emb):
        raise ValueError(f"need embeddings (n, d) and labels (n,), got {emb.shape} and {labels.shape}")
    return emb, labels


def class_members(labels: np.ndarray, *, min_count: int = 1) -> dict[object, np.ndarray]:
    """Image indices of each class with at least `min_count` images, in label order."""
    uniq, inv, counts = np.unique(labels, return_inverse=True, return_counts=True)
    chunks = np.split(np.argsort(inv, kind="stable"), np.cumsum(counts)[:-1])
    return {u: m for u, m in zip(uniq, chunks, strict=True) if len(m) >= min_count}
