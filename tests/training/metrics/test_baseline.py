"""The raw-pixel baseline embedding."""

import numpy as np
import pytest

from training.metrics.baseline import pixel_embeddings


def test_pixel_embeddings_centres_and_normalizes_each_image():
    # [1, 2, 3, 4] - 2.5 = [-1.5, -0.5, 0.5, 1.5], norm sqrt(2.25 + 0.25 + 0.25 + 2.25) = sqrt(5)
    images = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    out = pixel_embeddings(images)
    np.testing.assert_allclose(out, [[-1.5, -0.5, 0.5, 1.5]] / np.sqrt(5), rtol=1e-6)
    assert out.dtype == np.float32


def test_pixel_embeddings_constant_image_becomes_zero_vector():
    out = pixel_embeddings(np.full((1, 3, 2, 2), 7.0))
    assert out.shape == (1, 12) and not out.any()


def test_pixel_embeddings_ignore_brightness_and_contrast():
    image = np.random.default_rng(0).random((1, 1, 5, 4))
    np.testing.assert_allclose(pixel_embeddings(3 * image + 1), pixel_embeddings(image), atol=1e-6)


def test_pixel_embeddings_wrong_rank_raises_value_error():
    with pytest.raises(ValueError, match="channels"):
        pixel_embeddings(np.zeros((2, 4, 4)))


def test_pixel_embeddings_chunk_by_chunk_are_those_of_all_at_once():
    images = np.random.default_rng(1).random((7, 3, 4, 4)).astype(np.float32)
    images[3] = 0.5  # a constant image among them
    whole = pixel_embeddings(images, chunk=100)
    np.testing.assert_array_equal(pixel_embeddings(images, chunk=2), whole)
    assert not whole[3].any() and np.allclose(np.linalg.norm(np.delete(whole, 3, axis=0), axis=1), 1.0)


def test_pair_norms_chunk_by_chunk_are_the_pairs_distances():
    from training.selection import pair_norms

    rng = np.random.default_rng(2)
    emb = rng.random((9, 5)).astype(np.float32)
    i, j = rng.integers(0, 9, 11), rng.integers(0, 9, 11)
    np.testing.assert_allclose(
        pair_norms(emb, i, j, chunk=3), np.linalg.norm(emb[i] - emb[j], axis=1), rtol=1e-6
    )
    assert pair_norms(emb, i[:0], j[:0]).shape == (0,)
