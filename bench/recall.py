"""Recall@1 of the gallery's ANN index against exact search, on real probe embeddings and synthetic queries.

Runs in-process on a stopped service's data dir: the registry loads the index the service left (its snapshot),
and exact answers come from a flat index over every stored embedding.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench.populate import around
from bench.stats import percentiles_ms, recall_at_1
from gallery.config import IndexConfig
from gallery.gallery import FIRST_K
from gallery.index import VectorIndex
from gallery.registry import STORE_SUFFIX, GalleryRegistry
from gallery.store import GalleryStore

SYNTHETIC_QUERIES = 200
QUERY_COSINE = 0.65  # how close a synthetic query lies to the stored vector it was drawn from


def near_queries(vectors: np.ndarray, *, count: int, cosine: float, rng: np.random.Generator) -> np.ndarray:
    """Unit queries at cosine `cosine` from randomly chosen rows of `vectors` (which must be unit rows)."""
    if len(vectors) == 0:
        raise ValueError("need at least one vector")
    return around(vectors[rng.integers(0, len(vectors), count)], cosine=cosine, rng=rng)


def timed_top1(
    search: Callable[[np.ndarray], np.ndarray], queries: np.ndarray
) -> tuple[np.ndarray, list[float]]:
    """Search one query at a time (as identify does at low load): top-1 ids and per-query seconds."""
    top, seconds = [], []
    for row in queries:
        started = time.perf_counter()
        top.append(search(row[None, :])[0, 0])
        seconds.append(time.perf_counter() - started)
    return np.asarray(top), seconds


def measure_recall(
    data_dir: Path, *, gallery: str, ann_min_size: int, real_queries: np.ndarray, seed: int = 0
) -> dict[str, object]:
    """Recall@1 and per-query search time of the ANN index vs exact, for real and synthetic queries."""
    registry = GalleryRegistry(Path(data_dir), ann_min_size=ann_min_size)
    registry.open()
    try:
        ann = registry.get(gallery).index
        store = GalleryStore.open(registry.directory / f"{gallery}{STORE_SUFFIX}")
        try:
            ids, vectors = store.load_embeddings()
        finally:
            store.close()
        exact = VectorIndex.build(vectors.shape[1], ids, vectors, config=IndexConfig())
        synthetic = near_queries(
            vectors, count=SYNTHETIC_QUERIES, cosine=QUERY_COSINE, rng=np.random.default_rng(seed)
        )
        return _compare(ann, exact, real=real_queries, synthetic=synthetic) | {"references": len(ids)}
    finally:
        registry.close()


def _compare(
    ann: VectorIndex, exact: VectorIndex, *, real: np.ndarray, synthetic: np.ndarray
) -> dict[str, object]:
    def ann_search(q: np.ndarray) -> np.ndarray:
        return ann.search(q, FIRST_K)[1]

    def exact_search(q: np.ndarray) -> np.ndarray:
        return exact.search(q, FIRST_K)[1]

    both = np.vstack([real, synthetic]).astype(np.float32)
    ann_top, ann_s = timed_top1(ann_search, both)
    exact_top, exact_s = timed_top1(exact_search, both)
    n_real = len(real)
    return {
        "index": ann.kind,
        "queries_real": n_real,
        "recall_at_1_real": recall_at_1(exact_top[:n_real], ann_top[:n_real]) if n_real else None,
        "queries_synthetic": len(synthetic),
        "recall_at_1_synthetic": recall_at_1(exact_top[n_real:], ann_top[n_real:]),
        "ann_search_ms": percentiles_ms(ann_s),
        "exact_search_ms": percentiles_ms(exact_s),
        "k": FIRST_K,
    }
