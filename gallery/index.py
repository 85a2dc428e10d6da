"""VectorIndex: the derived FAISS index over unit float32 vectors with int64 reference ids.

Exact search is `IndexIDMap2(IndexFlatIP)`; from `IndexConfig.ann_min_size` up it is
`IndexIDMap2(IndexHNSWFlat)` (inner product). HNSW cannot remove vectors, so removed ids become
tombstones filtered out by an `IDSelectorNot` at search time, and the index is rebuilt once tombstones
pass `compact_fraction`. A vector that is not finite and of unit norm (`gallery.integrity`) never enters the
index: its id is kept out and named in `rejected`. HNSW was chosen over IVF because IVF's cells say little about nearly uniform data:
on 200k uniform vectors, with queries at cosine 0.65 from their neighbour, IVF needed to probe 28 % of its
lists (1.9 ms) for recall@1 0.986. At 1M references (M=32, efConstruction=80, one search thread, 2-core
machine under load) HNSW found the true nearest for 0.99 of such queries at efSearch 512 (3.7 ms) when the
references come in identities (five around a centre, as real embeddings do), and 0.945 on uniform vectors,
the worst case (0.985 at efSearch 1024, 7.8 ms). Similarities from FAISS are returned as "l2" distances
(see `gallery.distance`).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator

import faiss
import numpy as np

from gallery.config import IndexConfig, default_ef, gpu_available
from gallery.distance import similarity_to_l2
from gallery.integrity import bad_rows, why_bad

GPU_MAX_K = 2048  # FAISS GPU k-selection limit; larger k falls back to the CPU copy
BULK_ADD = 10_000  # an HNSW add of at least this many vectors (a build) runs on every core
ALL_THREADS = faiss.omp_get_max_threads()  # OpenMP's own default, read before any setting changes it


class VectorIndex:
    """One FAISS index plus its tombstones (HNSW) and optional GPU mirror (flat)."""

    def __init__(
        self, dim: int, *, config: IndexConfig, kind: str = "flat", index: faiss.Index | None = None
    ) -> None:
        if kind not in ("flat", "hnsw"):
            raise ValueError(f"kind must be 'flat' or 'hnsw', got {kind!r}")
        _apply_globals(config)
        self.dim = dim
        self.kind = kind
        self.config = config
        self._index = index if index is not None else _new_index(dim, kind, config)
        self._tombstones: set[int] = set()
        self._rejected: dict[int, str] = {}  # id -> why its vector was kept out
        self._selector: faiss.IDSelector | None = None
        self._gpu = None
        if kind == "flat" and config.gpu_active:
            self._mirror_to_gpu()

    @classmethod
    def build(cls, dim: int, ids: np.ndarray, vectors: np.ndarray, *, config: IndexConfig) -> VectorIndex:
        """A fresh index of the kind `config` wants for this many vectors, holding them all."""
        index = cls(dim, config=config, kind=config.kind_for(len(ids)))
        if len(ids):
            index.add(vectors, ids)
        return index

    @property
    def ntotal(self) -> int:
        """Live vectors (stored minus tombstoned)."""
        return int(self._index.ntotal) - len(self._tombstones)

    @property
    def on_gpu(self) -> bool:
        return self._gpu is not None

    @property
    def faiss_index(self) -> faiss.Index:
        """The CPU index itself (what a snapshot writes)."""
        return self._index

    @property
    def tombstones(self) -> frozenset[int]:
        return frozenset(self._tombstones)

    @property
    def rejected(self) -> dict[int, str]:
        """Ids whose vectors were kept out of the index (not finite, or not unit norm), with the reason."""
        return dict(self._rejected)

    def add(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        """Add vectors under their ids; a row that is not finite and unit norm is kept out (see `rejected`)."""
        x = np.ascontiguousarray(vectors, dtype=np.float32)
        labels = np.ascontiguousarray(ids, dtype=np.int64)
        if x.ndim != 2 or x.shape[1] != self.dim or len(labels) != len(x):
            raise ValueError(f"need (n, {self.dim}) vectors and n ids, got {x.shape} and {labels.shape}")
        bad = bad_rows(x)
        if bad.any():
            self._rejected.update((int(labels[i]), why_bad(x[i])) for i in np.flatnonzero(bad))
            x, labels = np.ascontiguousarray(x[~bad]), np.ascontiguousarray(labels[~bad])
            if not len(x):
                return
        with _omp_threads(ALL_THREADS if self.kind == "hnsw" and len(x) >= BULK_ADD else None):
            self._index.add_with_ids(x, labels)
        if self._gpu is not None:
            self._gpu.add_with_ids(x, labels)

    def remove(self, ids: np.ndarray) -> int:
        """Remove ids (absent ones are ignored); returns how many were present."""
        wanted = np.unique(np.asarray(ids, dtype=np.int64))
        if self._rejected:
            for i in wanted[np.isin(wanted, np.fromiter(self._rejected, dtype=np.int64))]:
                del self._rejected[int(i)]
        if self.kind == "hnsw":
            return self._tombstone(wanted)
        removed = int(self._index.remove_ids(faiss.IDSelectorBatch(wanted)))
        if removed and self._gpu is not None:
            self._mirror_to_gpu()  # GPU indexes have no remove: copy the CPU master again
        return removed

    def restore_tombstones(self, ids: np.ndarray) -> None:
        """Mark ids as removed again after loading a snapshot (HNSW only)."""
        if len(ids) and self.kind != "hnsw":
            raise ValueError("only an HNSW index keeps tombstones")
        self._tombstone(np.asarray(ids, dtype=np.int64))

    def needs_compaction(self) -> bool:
        return (
            self.kind == "hnsw" and len(self._tombstones) > self.config.compact_fraction * self._index.ntotal
        )

    def ids(self) -> np.ndarray:
        """Live ids, ascending."""
        stored = faiss.vector_to_array(self._index.id_map).astype(np.int64, copy=False)
        if self._tombstones:
            stored = stored[~np.isin(stored, np.fromiter(self._tombstones, dtype=np.int64))]
        return np.sort(stored)

    def stored(self, *, batch: int = 65536) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(ids, vectors) chunks of everything the FAISS index holds, in its own order, tombstoned rows included."""
        inner = faiss.downcast_index(self._index.index)
        ids = faiss.vector_to_array(self._index.id_map).astype(np.int64, copy=False)
        for start in range(0, len(ids), batch):
            count = min(batch, len(ids) - start)
            yield ids[start : start + count], inner.reconstruct_n(start, count)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Nearest k per query in ONE faiss call: (l2 distances (m, k), ids (m, k)); misses are (inf, -1)."""
        q = np.ascontiguousarray(queries, dtype=np.float32)
        if q.ndim != 2 or q.shape[1] != self.dim:
            raise ValueError(f"queries must have shape (m, {self.dim}), got {q.shape}")
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        _use_search_threads(self.config)
        if self._gpu is not None and k <= GPU_MAX_K:
            sims, labels = self._gpu.search(q, k)
        elif self.kind == "hnsw":
            sims, labels = self._index.search(q, k, params=self._hnsw_params(k))
        else:
            sims, labels = self._flat_search(q, k)
        distances = similarity_to_l2(sims).astype(np.float32)
        distances[labels < 0] = np.inf
        return distances, labels.astype(np.int64, copy=False)

    def _flat_search(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact search; a batch of at least `blas_min_queries` queries takes FAISS's BLAS path (one matrix
        product over the references instead of a scan per query). FAISS's own switch is a process-wide
        threshold that also sends a single query down the BLAS path once set low (faiss-cpu 1.15.1, 100k
        references: 1 query 11 ms by BLAS against 2.6 ms by scanning, 16 queries 16 against 33 ms), so it
        is lowered for the batched call alone."""
        wanted = self.config.blas_min_queries
        if wanted is None or len(q) < wanted:
            return self._index.search(q, k)
        faiss.cvar.distance_compute_blas_threshold = 1
        try:
            return self._index.search(q, k)
        finally:  # the configured value, not the one read before: two batched calls at once must not leave 1
            faiss.cvar.distance_compute_blas_threshold = self.config.blas_threshold

    def _hnsw_params(self, k: int) -> faiss.SearchParametersHNSW:
        params = faiss.SearchParametersHNSW()  # one per call: IndexIDMap2 rewrites params.sel while searching
        params.efSearch = default_ef(self.config.ef_search, k)
        if self._selector is not None:
            params.sel = self._selector
        return params

    def _tombstone(self, wanted: np.ndarray) -> int:
        stored = faiss.vector_to_array(self._index.id_map)
        present = [int(i) for i in wanted[np.isin(wanted, stored)] if int(i) not in self._tombstones]
        if present:
            self._tombstones.update(present)
            batch = faiss.IDSelectorBatch(np.fromiter(self._tombstones, dtype=np.int64))
            selector = faiss.IDSelectorNot(batch)
            selector.referenced_batch = batch  # keep the wrapped selector alive as long as the outer one
            self._selector = selector
        return len(present)

    def _mirror_to_gpu(self) -> None:
        self._gpu = faiss.index_cpu_to_gpu(_gpu_resources(), 0, self._index)


@functools.cache
def _gpu_resources() -> faiss.StandardGpuResources:
    """One set of GPU resources (scratch memory, streams) shared by every gallery in the process."""
    return faiss.StandardGpuResources()


def _new_index(dim: int, kind: str, config: IndexConfig) -> faiss.Index:
    if kind == "flat":
        return faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
    hnsw = faiss.IndexHNSWFlat(dim, config.hnsw_m, faiss.METRIC_INNER_PRODUCT)
    hnsw.hnsw.efConstruction = config.ef_construction
    hnsw.hnsw.efSearch = config.ef_search
    return faiss.IndexIDMap2(hnsw)


@contextlib.contextmanager
def _omp_threads(threads: int | None) -> Iterator[None]:
    """FAISS OpenMP threads set to `threads` inside the block (None: unchanged), then back as they were.

    Searches run on few threads (one query is cheaper than a fork/join), but building a graph over many
    vectors parallelises well. OpenMP keeps this setting per calling thread, so other threads are unaffected.
    """
    before = faiss.omp_get_max_threads()
    if threads is None or threads == before:
        yield
        return
    faiss.omp_set_num_threads(threads)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def _use_search_threads(config: IndexConfig) -> None:
    """OpenMP threads for searches on the calling thread. OpenMP keeps `omp_set_num_threads` per thread, so it
    is set by whichever thread searches (the batcher's, a worker's), not once at start-up."""
    if config.omp_threads is not None and faiss.omp_get_max_threads() != config.omp_threads:
        faiss.omp_set_num_threads(config.omp_threads)


def _apply_globals(config: IndexConfig) -> None:
    """The process-wide FAISS knob: the BLAS threshold (see IndexConfig)."""
    faiss.cvar.distance_compute_blas_threshold = config.blas_threshold


__all__ = ["GPU_MAX_K", "VectorIndex", "gpu_available"]
