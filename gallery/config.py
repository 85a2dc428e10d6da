"""IndexConfig: how a gallery's derived FAISS index is built, searched and snapshotted."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import faiss

FAISS_DEFAULT_BLAS_THRESHOLD = 128_000  # faiss-cpu 1.15.1's own default (older releases used 20)


def gpu_available() -> bool:
    """True when this faiss build has GPU support and sees at least one device."""
    return hasattr(faiss, "get_num_gpus") and faiss.get_num_gpus() > 0


@dataclass(frozen=True)
class IndexConfig:
    """Index parameters; ANN (HNSW) is used only from `ann_min_size` live references up, and never on a GPU.

    An HNSW graph over many references takes minutes to build (about 5 at 1M on 2 cores), so from
    `background_build_min` references up it is built on a thread of its own: the gallery keeps answering from
    the index it has (an exact one when none is usable yet) and swaps the graph in when it is done.

    `blas_threshold` sets the process-wide `faiss.cvar.distance_compute_blas_threshold`: exact search takes
    the BLAS (sgemm) path only when one call has at least this many queries. Measured with faiss-cpu 1.15.1
    on 2 cores (NOTES.md): the default non-BLAS path was 3x faster at 100k references even for 256 queries,
    BLAS only won at 1M references with >= 32 queries, a size where the HNSW index takes over.
    """

    ann_min_size: int | None = None
    hnsw_m: int = 32
    ef_construction: int = 80
    ef_search: int = 512
    compact_fraction: float = 0.2
    blas_threshold: int = FAISS_DEFAULT_BLAS_THRESHOLD
    blas_min_queries: int | None = None  # exact search of this many queries or more in one call: BLAS path
    omp_threads: int | None = None
    use_gpu: bool = False
    snapshots: bool = True
    # an HNSW (re)build over at least this many references runs off the lock
    background_build_min: int = 50_000

    def __post_init__(self) -> None:
        _at_least("ann_min_size", self.ann_min_size, 1, optional=True)
        _at_least("hnsw_m", self.hnsw_m, 4)
        _at_least("ef_construction", self.ef_construction, 1)
        _at_least("ef_search", self.ef_search, 1)
        _at_least("blas_threshold", self.blas_threshold, 0)
        _at_least("omp_threads", self.omp_threads, 1, optional=True)
        _at_least("blas_min_queries", self.blas_min_queries, 1, optional=True)
        _at_least("background_build_min", self.background_build_min, 1)
        if not (isinstance(self.compact_fraction, float | int) and 0 < self.compact_fraction <= 1):
            raise ValueError(f"compact_fraction must lie in (0, 1], got {self.compact_fraction!r}")

    @classmethod
    def from_options(cls, **options: Any) -> IndexConfig:
        """Build from keyword options; an unknown option is a ValueError naming the known ones."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ValueError(f"unknown index options {unknown}; known: {sorted(known)}")
        return cls(**options)

    @property
    def gpu_active(self) -> bool:
        return self.use_gpu and gpu_available()

    def kind_for(self, size: int) -> str:
        """ "hnsw" for a gallery of `size` live references when ANN applies, else "flat" (exact)."""
        if self.gpu_active or self.ann_min_size is None or size < self.ann_min_size:
            return "flat"
        return "hnsw"

    def builds_in_background(self, size: int) -> bool:
        """Whether an HNSW build over `size` references runs on a thread of its own while the gallery goes on
        serving from the index it has (exact search at first open): minutes at a million references."""
        return size >= self.background_build_min

    def build_params(self) -> dict[str, Any]:
        """What a stored index depends on; a snapshot built with other values is not reused."""
        return {"hnsw_m": self.hnsw_m, "ef_construction": self.ef_construction}


def _at_least(name: str, value: Any, low: int, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")


def default_ef(ef_search: int, k: int) -> int:
    """HNSW needs a candidate list at least as long as the number of results asked for."""
    return max(ef_search, math.ceil(k * 1.25))
