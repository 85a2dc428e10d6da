"""L2 distances between embedding sets."""

import numpy as np
import pytest

from training.metrics.distances import pairwise_l2


def test_pairwise_l2_matches_hand_distances():
    # (1,0)-(0.6,0.8): sqrt(0.16 + 0.64); (0,1)-(0.6,0.8): sqrt(0.36 + 0.04)
    # (3,4)-(0.6,0.8): sqrt(2.4^2 + 3.2^2) = 4; (3,4)-(0,0): 5
    a = np.array([[1.0, 0.0], [0.0, 1.0], [3.0, 4.0]])
    b = np.array([[0.6, 0.8], [0.0, 0.0]])
    expected = [[np.sqrt(0.8), 1.0], [np.sqrt(0.4), 1.0], [4.0, 5.0]]
    np.testing.assert_allclose(pairwise_l2(a, b), expected, rtol=1e-12)


def test_pairwise_l2_identical_float32_unit_vectors_give_zero_not_nan():
    x = np.random.default_rng(0).standard_normal((50, 64)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    d = pairwise_l2(x, x)
    assert np.isfinite(d).all() and (d >= 0).all() and np.abs(np.diag(d)).max() < 1e-6


def test_pairwise_l2_dimension_mismatch_raises_value_error():
    with pytest.raises(ValueError, match="arrays"):
        pairwise_l2(np.zeros((2, 3)), np.zeros((2, 4)))


def test_nearest_of_wide_vectors_in_blocks_is_that_of_the_whole_matrix(monkeypatch):
    import training.metrics.distances as distances

    rng = np.random.default_rng(0)
    queries, refs = rng.standard_normal((50, 300)).astype(np.float32), rng.standard_normal((7, 300))
    whole = pairwise_l2(queries, refs)
    monkeypatch.setattr(distances, "_CHUNK_ELEMENTS", 1000)  # 300-wide rows: 3 queries per block
    idx, dist = distances.nearest(queries, refs)
    np.testing.assert_array_equal(idx, whole.argmin(axis=1))
    np.testing.assert_array_equal(dist, whole.min(axis=1))


def test_float32_embeddings_are_taken_without_a_float64_copy_and_integers_become_float64():
    from training.metrics.distances import as_embeddings_and_labels

    emb = np.ones((4, 3), dtype=np.float32)
    kept, _ = as_embeddings_and_labels(emb, [0, 0, 1, 1])
    assert kept is emb
    assert as_embeddings_and_labels(np.ones((2, 3), dtype=np.int64), [0, 1])[0].dtype == np.float64
