"""The "l2" metric conversions, on literals worked out by hand."""

import math

import numpy as np
import pytest

from gallery.distance import l2_to_similarity, similarity_to_l2


@pytest.mark.parametrize(
    ("similarity", "distance"),
    [(1.0, 0.0), (0.0, math.sqrt(2.0)), (-1.0, 2.0), (0.5, 1.0), (0.875, 0.5)],
)
def test_similarity_to_l2_literals_match_hand_computed(similarity, distance):
    assert similarity_to_l2(similarity) == pytest.approx(distance)
    assert l2_to_similarity(distance) == pytest.approx(similarity)


def test_similarity_to_l2_above_one_clamps_to_zero():
    assert similarity_to_l2(1.0000001) == 0.0


def test_similarity_to_l2_array_keeps_shape_and_matches_vector_distance():
    a = np.array([[0.6, 0.8], [1.0, 0.0]])
    b = np.array([[0.8, 0.6], [0.0, 1.0]])
    s = (a * b).sum(axis=1).reshape(2, 1)
    d = similarity_to_l2(s)
    assert d.shape == (2, 1)
    np.testing.assert_allclose(d[:, 0], np.linalg.norm(a - b, axis=1))


def test_l2_to_similarity_returns_float_for_scalar():
    assert isinstance(l2_to_similarity(1.0), float)
