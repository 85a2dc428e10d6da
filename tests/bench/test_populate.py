"""Synthetic gallery contents: unit rows, identities never split across transactions, and a real store."""

import numpy as np

from bench.populate import fake_sha256s, populate, synthetic_entries, unit_vectors
from gallery.registry import GalleryRegistry
from modelcard import load_card


def test_unit_vectors_rows_have_unit_length():
    x = unit_vectors(50, 16, rng=np.random.default_rng(0))
    assert x.dtype == np.float32 and x.shape == (50, 16)
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)


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
