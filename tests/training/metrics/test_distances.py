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
