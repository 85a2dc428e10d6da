"""Damaged snapshots and stored embeddings, on real files: a snapshot whose id map or one vector was garbled is
rebuilt from the store, and a stored embedding of huge floats is kept out of the index and named."""

import json
import sqlite3

import numpy as np
import pytest

from gallery import GalleryRegistry
from gallery.config import IndexConfig
from gallery.index import VectorIndex
from gallery.integrity import bad_rows, file_sha256, why_bad
from gallery.snapshot import read_snapshot, sidecar_path, write_snapshot

STAMP = {"name": "faces", "created_at": "then", "model_sha256": "a" * 64}
KINDS = pytest.mark.parametrize("ann_min_size", [None, 10], ids=["flat", "hnsw"])


def _reopen(tmp_path, **options) -> GalleryRegistry:
    registry = GalleryRegistry(tmp_path, **options)
    registry.open()
    return registry


def _filled(tmp_path, unit_vectors, shas, dim, *, ann_min_size, identities=40) -> np.ndarray:
    """A gallery of `identities` identities with one reference each (ids 1..n), closed with its snapshot."""
    registry = _reopen(tmp_path, ann_min_size=ann_min_size)
    gallery = registry.create("faces", model="faces", model_sha256="a" * 64, dim=dim)
    vectors = unit_vectors(identities)
    for i in range(identities):
        gallery.add(f"person-{i}", vectors[i : i + 1], image_sha256s=shas(1))
    registry.close()
    assert (tmp_path / "galleries" / "faces.faiss").is_file()
    return vectors


def _nearest(gallery, queries) -> list[str]:
    return [row[0].identity for row in gallery.search(queries, top_k=1)]


def _garble_id_map(path, count: int) -> None:
    """Reverse the id map, the file's last `count` int64s: every count in the file and its sidecar still holds."""
    data = bytearray(path.read_bytes())
    tail = np.frombuffer(bytes(data[-8 * count :]), dtype="<i8")
    assert sorted(tail.tolist()) == list(range(1, count + 1)), "the id map is not at the file's end"
    data[-8 * count :] = tail[::-1].tobytes()
    path.write_bytes(bytes(data))


def _replace_vector(path, vector: np.ndarray, replacement: np.ndarray) -> None:
    data = path.read_bytes()
    at = data.find(vector.astype("<f4").tobytes())
    assert at > 0, "vector not found in the index file"
    path.write_bytes(data[:at] + replacement.astype("<f4").tobytes() + data[at + 4 * len(vector) :])


@KINDS
def test_snapshot_with_garbled_id_map_and_matching_counts_is_rebuilt(
    tmp_path, unit_vectors, shas, dim, ann_min_size
):
    vectors = _filled(tmp_path, unit_vectors, shas, dim, ann_min_size=ann_min_size)
    _garble_id_map(tmp_path / "galleries" / "faces.faiss", len(vectors))
    registry = _reopen(tmp_path, ann_min_size=ann_min_size)
    try:
        gallery = registry.get("faces")
        assert gallery.index_source == "rebuilt"
        assert _nearest(gallery, vectors) == [f"person-{i}" for i in range(len(vectors))]
    finally:
        registry.close()


@KINDS
def test_snapshot_with_one_vector_replaced_by_unit_noise_is_rebuilt(
    tmp_path, unit_vectors, shas, dim, ann_min_size
):
    vectors = _filled(tmp_path, unit_vectors, shas, dim, ann_min_size=ann_min_size)
    probe = unit_vectors(1, seed=99)[0]  # the noise is unit norm: only the checksum can tell
    _replace_vector(tmp_path / "galleries" / "faces.faiss", vectors[7], probe)
    registry = _reopen(tmp_path, ann_min_size=ann_min_size)
    try:
        gallery = registry.get("faces")
        assert gallery.index_source == "rebuilt"
        assert gallery.search(probe[None, :], top_k=1)[0][0].distance > 0.1  # no confident false match
        assert _nearest(gallery, vectors[7:8]) == ["person-7"]
    finally:
        registry.close()


def test_read_snapshot_with_bad_vector_under_a_matching_checksum_returns_none(tmp_path, unit_vectors, dim):
    """The vector check stands on its own: a snapshot written whole with a huge vector in it is refused."""
    config = IndexConfig()
    index = VectorIndex(dim, config=config)
    vectors = unit_vectors(10)
    index.add(vectors, np.arange(1, 11))
    path = tmp_path / "faces.faiss"
    write_snapshot(path, index, max_reference_id=10, stamp=STAMP)
    _replace_vector(path, vectors[3], np.full(dim, 1e30, dtype=np.float32))
    body = json.loads(sidecar_path(path).read_text())
    sidecar_path(path).write_text(json.dumps({**body, "sha256": file_sha256(path)}))
    assert read_snapshot(path, dim=dim, config=config) is None


def test_read_snapshot_of_a_format_without_checksum_returns_none(tmp_path, unit_vectors, dim):
    index = VectorIndex.build(dim, np.arange(1, 6), unit_vectors(5), config=IndexConfig())
    path = tmp_path / "faces.faiss"
    write_snapshot(path, index, max_reference_id=5, stamp=STAMP)
    body = json.loads(sidecar_path(path).read_text())
    del body["sha256"]
    sidecar_path(path).write_text(json.dumps({**body, "format": 1}))
    assert read_snapshot(path, dim=dim, config=IndexConfig()) is None


@KINDS
@pytest.mark.parametrize("value", [1e30, np.nan, 0.0], ids=["huge", "nan", "zero"])
def test_garbled_embedding_blob_is_kept_out_of_the_index_and_named(
    tmp_path, unit_vectors, shas, dim, ann_min_size, value
):
    vectors = _filled(tmp_path, unit_vectors, shas, dim, ann_min_size=ann_min_size)
    galleries = tmp_path / "galleries"
    for snapshot in galleries.glob("faces.faiss*"):
        snapshot.unlink()  # the index is rebuilt from the store, damage included
    with sqlite3.connect(galleries / "faces.sqlite") as conn:
        blob = np.full(dim, value, dtype="<f4").tobytes()
        conn.execute('UPDATE "references" SET embedding = ? WHERE id = 5', (blob,))
    registry = _reopen(tmp_path, ann_min_size=ann_min_size)
    try:
        gallery = registry.get("faces")
        for query in unit_vectors(20, seed=5):
            (best,) = gallery.search(query[None, :], top_k=1)[0]
            assert best.reference_id != 5
        assert list(gallery.damaged_references) == [5]
        others = np.delete(np.arange(len(vectors)), 4)
        assert _nearest(gallery, vectors[others]) == [f"person-{i}" for i in others]
        gallery.delete_reference(5)
        assert gallery.damaged_references == {}
    finally:
        registry.close()


@KINDS
def test_damaged_reference_is_named_again_after_a_reopen_from_snapshot(
    tmp_path, unit_vectors, shas, dim, ann_min_size
):
    _filled(tmp_path, unit_vectors, shas, dim, ann_min_size=ann_min_size)
    galleries = tmp_path / "galleries"
    for snapshot in galleries.glob("faces.faiss*"):
        snapshot.unlink()
    with sqlite3.connect(galleries / "faces.sqlite") as conn:
        conn.execute(
            'UPDATE "references" SET embedding = ? WHERE id = 9', (np.full(dim, 3e38, "<f4").tobytes(),)
        )
    _reopen(tmp_path, ann_min_size=ann_min_size).close()  # writes a snapshot without reference 9
    registry = _reopen(tmp_path, ann_min_size=ann_min_size)
    try:
        assert registry.get("faces").index_source == "reconciled"
        assert list(registry.get("faces").damaged_references) == [9]
    finally:
        registry.close()


def test_bad_rows_flags_non_finite_and_non_unit_rows():
    rows = np.array([[1, 0], [0.6, 0.8], [np.inf, 0], [np.nan, 1], [1e30, 1e30], [0, 0], [1.01, 0]], "<f4")
    assert bad_rows(rows).tolist() == [False, False, True, True, True, True, True]
    assert why_bad(rows[2]).startswith("not finite") and why_bad(rows[6]) == "norm 1.01, not 1"


def test_stored_references_leave_out_and_name_damaged_embeddings(tmp_path, unit_vectors, shas, dim):
    """What calibration reads: a stored embedding of huge floats or NaN is left out and named, as the index
    leaves it out, and the sound rows keep their identities."""
    registry = _reopen(tmp_path)
    gallery = registry.create("faces", model="faces", model_sha256="a" * 64, dim=dim)
    vectors = unit_vectors(6)
    for i in range(3):  # p0: ids 1, 2; p1: 3, 4; p2: 5, 6
        gallery.add(f"p{i}", vectors[2 * i : 2 * i + 2], image_sha256s=shas(2))
    with sqlite3.connect(tmp_path / "galleries" / "faces.sqlite") as conn:
        for reference_id, value in ((2, 1e30), (5, np.nan)):
            blob = np.full(dim, value, dtype="<f4").tobytes()
            conn.execute('UPDATE "references" SET embedding = ? WHERE id = ?', (blob, reference_id))
    stored = gallery.stored_references()
    assert sorted(stored.damaged) == [2, 5]
    assert "not finite" in stored.damaged[5] and "norm 4e+30" in stored.damaged[2]
    assert list(stored.identities) == ["p0", "p1", "p1", "p2"]
    np.testing.assert_allclose(stored.embeddings, vectors[[0, 2, 3, 5]], atol=1e-6)
    assert not bad_rows(stored.embeddings).any()
    registry.close()
