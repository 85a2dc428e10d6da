"""ANN-vs-exact recall on a small real gallery, and the synthetic query generator."""

import numpy as np
import pytest

from bench.populate import populate, unit_vectors
from bench.recall import measure_recall, near_queries
from modelcard import load_card


def test_near_queries_lie_at_the_asked_cosine_from_an_anchor():
    vectors = unit_vectors(20, 16, rng=np.random.default_rng(0))
    queries = near_queries(vectors, count=30, cosine=0.65, rng=np.random.default_rng(1))
    np.testing.assert_allclose(np.linalg.norm(queries, axis=1), 1.0, atol=1e-5)
    assert np.isclose(queries @ vectors.T, 0.65, atol=1e-4).any(axis=1).all()


def test_near_queries_cosine_out_of_range_raises_value_error():
    with pytest.raises(ValueError, match="cosine"):
        near_queries(np.ones((1, 2), np.float32), count=1, cosine=0.0, rng=np.random.default_rng(0))


def test_measure_recall_small_hnsw_gallery_finds_stored_vectors(tmp_path, models_dir):
    card = load_card(models_dir / "tiny.json")
    populate(tmp_path, gallery="bench", model="tiny", card=card, size=400, seed=3)
    real = unit_vectors(400, card.embedding_dim, rng=np.random.default_rng(3))[:10]  # the stored rows
    row = measure_recall(tmp_path, gallery="bench", ann_min_size=100, real_queries=real)
    assert (row["index"], row["references"], row["queries_real"]) == ("hnsw", 400, 10)
    assert row["recall_at_1_real"] == 1.0 and row["recall_at_1_synthetic"] >= 0.9
    assert row["ann_search_ms"]["p50"] > 0 and row["exact_search_ms"]["p50"] > 0
