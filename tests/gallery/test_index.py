"""VectorIndex and IndexConfig on real FAISS: exact ids, removal (NOTES traps), HNSW recall, GPU path."""

import threading

import faiss
import numpy as np
import pytest

from gallery.config import IndexConfig, gpu_available
from gallery.index import VectorIndex


def _ids(n: int) -> np.ndarray:
    return np.arange(n, dtype=np.int64) * 7 + 100  # sparse, not positions


def test_flat_search_finds_each_vector_itself_at_distance_zero(unit_vectors, dim):
    vectors = unit_vectors(50)
    index = VectorIndex.build(dim, _ids(50), vectors, config=IndexConfig())
    distances, ids = index.search(vectors, 3)
    assert index.kind == "flat" and distances.shape == ids.shape == (50, 3)
    assert (ids[:, 0] == _ids(50)).all()
    np.testing.assert_allclose(distances[:, 0], 0.0, atol=1e-3)
    assert (np.diff(distances, axis=1) >= 0).all()


def test_search_with_k_above_size_pads_with_minus_one_and_inf(unit_vectors, dim):
    index = VectorIndex.build(dim, _ids(2), unit_vectors(2), config=IndexConfig())
    distances, ids = index.search(unit_vectors(1, seed=9), 4)
    assert ids[0, 2:].tolist() == [-1, -1] and np.isinf(distances[0, 2:]).all()


@pytest.mark.parametrize("ann_min_size", [None, 1], ids=["flat", "hnsw"])
def test_remove_half_keeps_survivor_ids_and_never_returns_removed(unit_vectors, dim, ann_min_size):
    # NOTES trap: IndexIDMap2 over IVF returned 0 % correct ids after remove_ids; HNSW cannot remove at all.
    vectors, ids = unit_vectors(2000), _ids(2000)
    index = VectorIndex.build(dim, ids, vectors, config=IndexConfig(ann_min_size=ann_min_size))
    assert index.remove(ids[::2]) == 1000
    assert index.remove(ids[::2]) == 0  # already gone
    _, found = index.search(vectors, 5)
    assert np.isin(found, ids[::2]).sum() == 0
    assert (found[1::2, 0] == ids[1::2]).mean() >= (1.0 if ann_min_size is None else 0.99)
    assert index.ntotal == 1000 and index.ids().tolist() == ids[1::2].tolist()


def test_hnsw_recall_at_1_against_exact_on_5k_vectors_is_at_least_095(unit_vectors):
    dim = 32
    vectors, ids = unit_vectors(5000, dim=dim), _ids(5000)
    noise = unit_vectors(500, dim=dim, seed=1)
    queries = vectors[:500] + 0.8 * noise  # near a stored vector, as real probes are, not on it
    exact = VectorIndex.build(dim, ids, vectors, config=IndexConfig())
    ann = VectorIndex.build(dim, ids, vectors, config=IndexConfig(ann_min_size=1000))
    _, truth = exact.search(queries, 1)
    _, got = ann.search(queries, 1)
    assert ann.kind == "hnsw"
    assert (got[:, 0] == truth[:, 0]).mean() >= 0.95


def test_build_picks_hnsw_only_from_ann_min_size(unit_vectors, dim):
    config = IndexConfig(ann_min_size=10)
    assert VectorIndex.build(dim, _ids(9), unit_vectors(9), config=config).kind == "flat"
    assert VectorIndex.build(dim, _ids(10), unit_vectors(10), config=config).kind == "hnsw"


def test_hnsw_needs_compaction_once_tombstones_pass_fraction(unit_vectors, dim):
    index = VectorIndex.build(
        dim, _ids(10), unit_vectors(10), config=IndexConfig(ann_min_size=1, compact_fraction=0.2)
    )
    index.remove(_ids(10)[:2])
    assert not index.needs_compaction()
    index.remove(_ids(10)[2:3])
    assert index.needs_compaction()


def test_index_sets_faiss_blas_threshold_from_config(dim):
    before = faiss.cvar.distance_compute_blas_threshold
    try:
        VectorIndex(dim, config=IndexConfig(blas_threshold=77))
        assert faiss.cvar.distance_compute_blas_threshold == 77
    finally:
        faiss.cvar.distance_compute_blas_threshold = before


def test_search_wrong_query_shape_raises_value_error(unit_vectors, dim):
    index = VectorIndex.build(dim, _ids(3), unit_vectors(3), config=IndexConfig())
    with pytest.raises(ValueError, match="queries"):
        index.search(unit_vectors(2, dim=dim + 1), 1)


def test_index_config_unknown_option_raises_value_error():
    with pytest.raises(ValueError, match="unknown index options"):
        IndexConfig.from_options(nprobe=8)


@pytest.mark.parametrize(
    "bad", [{"ann_min_size": 0}, {"hnsw_m": 2}, {"compact_fraction": 0.0}, {"ef_search": True}]
)
def test_index_config_out_of_range_raises_value_error(bad):
    with pytest.raises(ValueError):
        IndexConfig(**bad)


def test_index_config_without_gpu_request_stays_on_cpu_and_uses_hnsw(dim):
    config = IndexConfig(ann_min_size=5)
    assert not config.gpu_active and config.kind_for(5) == "hnsw"
    assert not VectorIndex(dim, config=config).on_gpu


@pytest.mark.gpu
@pytest.mark.skipif(not gpu_available(), reason="faiss sees no GPU on this machine")
def test_gpu_flat_index_matches_cpu_results_and_survives_removal(unit_vectors, dim):
    vectors, ids = unit_vectors(500), _ids(500)
    gpu = VectorIndex.build(dim, ids, vectors, config=IndexConfig(use_gpu=True, ann_min_size=10))
    cpu = VectorIndex.build(dim, ids, vectors, config=IndexConfig())
    assert gpu.on_gpu and gpu.kind == "flat"  # exact on the GPU even above ann_min_size
    gpu.remove(ids[:100])
    cpu.remove(ids[:100])
    assert (gpu.search(vectors, 5)[1] == cpu.search(vectors, 5)[1]).all()


def test_omp_threads_block_sets_then_restores_the_setting():
    from gallery.index import _omp_threads

    before = faiss.omp_get_max_threads()
    with _omp_threads(before + 1):
        assert faiss.omp_get_max_threads() == before + 1
    assert faiss.omp_get_max_threads() == before
    with _omp_threads(None):
        assert faiss.omp_get_max_threads() == before


def test_search_runs_on_search_threads_in_whichever_thread_searches():
    index = VectorIndex(4, config=IndexConfig(omp_threads=1))
    index.add(np.eye(4, dtype=np.float32), np.arange(4))
    seen: list[int] = []

    def search() -> None:
        faiss.omp_set_num_threads(3)  # a fresh thread's own setting, as OpenMP keeps it per thread
        index.search(np.eye(4, dtype=np.float32)[:1], 1)
        seen.append(faiss.omp_get_max_threads())

    worker = threading.Thread(target=search)
    worker.start()
    worker.join()
    assert seen == [1]


def test_flat_search_batch_on_the_blas_path_gives_the_same_answers_and_restores_the_threshold(dim):
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((500, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    queries = vectors[:12] + 0.01
    answers = []
    for config in (IndexConfig(), IndexConfig(blas_min_queries=4)):
        index = VectorIndex(dim, config=config)
        index.add(vectors, np.arange(500))
        before = faiss.cvar.distance_compute_blas_threshold
        answers.append(index.search(queries, 5))
        assert faiss.cvar.distance_compute_blas_threshold == before
    np.testing.assert_array_equal(answers[0][1], answers[1][1])
    np.testing.assert_allclose(answers[0][0], answers[1][0], atol=1e-5)
