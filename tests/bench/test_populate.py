"""Synthetic gallery contents: unit rows, identities never split across transactions, and a real store."""

import numpy as np
import pytest

from bench.populate import (
    IDENTITY_COSINE,
    around,
    fake_sha256s,
    fitted_directions,
    populate,
    synthetic_entries,
    synthetic_vectors,
    unit_vectors,
)
from gallery.registry import GalleryRegistry
from modelcard import load_card


def test_unit_vectors_rows_have_unit_length():
    x = unit_vectors(50, 16, rng=np.random.default_rng(0))
    assert x.dtype == np.float32 and x.shape == (50, 16)
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)


def test_around_puts_each_row_at_exactly_the_asked_cosine_from_its_anchor():
    anchors = unit_vectors(20, 32, rng=np.random.default_rng(0))
    near = around(anchors, cosine=0.3, rng=np.random.default_rng(1))
    np.testing.assert_allclose((near * anchors).sum(axis=1), 0.3, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(near, axis=1), 1.0, atol=1e-5)


def test_synthetic_vectors_identities_layout_keeps_each_identity_together():
    x = synthetic_vectors(600, 64, per_identity=5, layout="identities", rng=np.random.default_rng(0))
    sims = x @ x.T
    same = np.kron(np.eye(120), np.ones((5, 5))).astype(bool) & ~np.eye(600, dtype=bool)
    assert sims[same].mean() == pytest.approx(IDENTITY_COSINE**2, abs=0.03)  # both at 0.8 from one centre
    assert abs(sims[~same & ~np.eye(600, dtype=bool)].mean()) < 0.01  # other identities: unrelated


def test_synthetic_vectors_uniform_layout_has_no_structure():
    x = synthetic_vectors(600, 64, per_identity=5, layout="uniform", rng=np.random.default_rng(0))
    same = np.kron(np.eye(120), np.ones((5, 5))).astype(bool) & ~np.eye(600, dtype=bool)
    assert abs((x @ x.T)[same].mean()) < 0.03


def test_fitted_directions_follow_the_sample_distribution():
    rng = np.random.default_rng(0)
    axis = np.zeros(32, dtype=np.float32)
    axis[0] = 1.0
    sample = around(np.tile(axis, (200, 1)), cosine=0.7, rng=rng)  # a cone around the first axis
    drawn = fitted_directions(sample, 1000, rng=rng)
    np.testing.assert_allclose(np.linalg.norm(drawn, axis=1), 1.0, atol=1e-5)
    assert drawn[:, 0].mean() > 0.5  # inside the cone, not spread over the sphere
    uniform = unit_vectors(1000, 32, rng=rng)
    assert abs(uniform[:, 0].mean()) < 0.05


def test_synthetic_vectors_model_layout_needs_a_sample():
    with pytest.raises(ValueError, match="sample"):
        synthetic_vectors(10, 8, per_identity=5, layout="model", rng=np.random.default_rng(0))


def test_synthetic_vectors_unknown_layout_raises_value_error():
    with pytest.raises(ValueError, match="layout"):
        synthetic_vectors(5, 8, per_identity=5, layout="grid", rng=np.random.default_rng(0))


def test_fake_sha256s_are_distinct_hex():
    shas = fake_sha256s(10, 3)
    assert len(set(shas)) == 3 and all(len(s) == 64 and int(s, 16) >= 0 for s in shas)


def test_synthetic_entries_chunks_add_up_without_splitting_identities():
    chunks = list(synthetic_entries(23, 8, refs_per_identity=5, seed=0, chunk=12))
    entries = [e for chunk in chunks for e in chunk]
    assert len(chunks) == 3  # steps of 10 references (a multiple of 5): 10 + 10 + 3
    assert sum(len(e.embeddings) for e in entries) == 23
    names = [e.identity for e in entries]
    assert len(names) == len(set(names)) == 5  # four full identities and one of 3 references


def test_populate_stores_references_through_the_gallery_layer(tmp_path, models_dir):
    card = load_card(models_dir / "tiny.json")
    populate(tmp_path, gallery="bench", model="tiny", card=card, size=120, refs_per_identity=4)
    registry = GalleryRegistry(tmp_path)
    registry.open()
    try:
        info = registry.get("bench").info
    finally:
        registry.close()
    assert (info.references, info.identities, info.model_sha256) == (120, 30, card.onnx_sha256)
