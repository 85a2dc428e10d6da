"""GalleryStore on a real SQLite file: pragmas, round trips, atomicity, id policy, migrations, corruption."""

import sqlite3

import numpy as np
import pytest

from gallery.errors import (
    DimensionMismatch,
    GalleryExists,
    GalleryNotFound,
    IdentityNotFound,
    ReferenceNotFound,
    StoreCorrupt,
)
from gallery.migrations import LATEST_VERSION
from gallery.store import GalleryStore
from gallery.types import Enrollment


def test_open_store_uses_wal_full_sync_and_foreign_keys(store):
    assert store.pragma("journal_mode") == "wal"
    assert store.pragma("synchronous") == 2
    assert store.pragma("foreign_keys") == 1


def test_add_then_reopen_round_trips_exact_float32_bytes(store, store_path, unit_vectors, shas, dim):
    vectors = unit_vectors(5)
    ids = store.add("alice", vectors, shas(5), {"team": "red"})
    store.close()
    reopened = GalleryStore.open(store_path)
    try:
        chunks = list(reopened.iter_embeddings(batch=2))
        assert [len(chunk_ids) for chunk_ids, _ in chunks] == [2, 2, 1]
        got_ids, got = reopened.load_embeddings()
        assert got_ids.tolist() == ids == [1, 2, 3, 4, 5]
        assert got.dtype == np.float32 and got.shape == (5, dim)
        assert got.tobytes() == vectors.astype("<f4").tobytes()
        assert reopened.meta.model == "faces" and reopened.meta.dim == dim
    finally:
        reopened.close()


def test_atomic_block_that_raises_leaves_nothing(store, unit_vectors, shas):
    with pytest.raises(RuntimeError, match="boom"), store.atomic():
        store.add("alice", unit_vectors(3), shas(3))
        raise RuntimeError("boom")
    assert store.counts() == (0, 0)
    assert store.reference_stats() == (0, 0)


def test_add_many_with_one_bad_entry_writes_nothing(store, unit_vectors, shas):
    good = Enrollment("alice", unit_vectors(2), tuple(shas(2)))
    bad = Enrollment("bob", unit_vectors(2), ("not-a-sha", *shas(1)))
    with pytest.raises(ValueError, match="sha256"):
        store.add_many([good, bad])
    assert store.counts() == (0, 0)


def test_add_wrong_dimension_raises_dimension_mismatch(store, unit_vectors, shas):
    with pytest.raises(DimensionMismatch, match="dimension 8"):
        store.add("alice", unit_vectors(2, dim=8), shas(2))


def test_reference_ids_are_never_reused_after_delete_and_reopen(store, store_path, unit_vectors, shas):
    assert store.add("alice", unit_vectors(3), shas(3)) == [1, 2, 3]
    store.delete_identity("alice")
    store.close()
    reopened = GalleryStore.open(store_path)
    try:
        assert reopened.add("bob", unit_vectors(2), shas(2)) == [4, 5]
        reopened.delete_reference(5)
        assert reopened.add("bob", unit_vectors(1), shas(1)) == [6]
    finally:
        reopened.close()


def test_migrations_are_recorded_once_with_user_version(store, store_path):
    store.close()
    reopened = GalleryStore.open(store_path)
    try:
        applied = reopened.applied_migrations()
        assert [version for version, _ in applied] == list(range(1, LATEST_VERSION + 1))
        assert reopened.pragma("user_version") == LATEST_VERSION
    finally:
        reopened.close()


def test_open_store_with_newer_schema_raises_store_corrupt(store, store_path):
    store.close()
    with sqlite3.connect(store_path) as conn:
        conn.execute("INSERT INTO migrations VALUES (999, 'from the future', 'now')")
    with pytest.raises(StoreCorrupt, match="newer"):
        GalleryStore.open(store_path)


def test_open_file_that_is_not_sqlite_raises_store_corrupt(tmp_path):
    path = tmp_path / "junk.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreCorrupt):
        GalleryStore.open(path)


def test_open_missing_file_raises_gallery_not_found(tmp_path):
    with pytest.raises(GalleryNotFound):
        GalleryStore.open(tmp_path / "absent.sqlite")


def test_create_over_existing_file_raises_gallery_exists(store, store_path, model_sha, dim):
    with pytest.raises(GalleryExists):
        GalleryStore.create(store_path, name="faces", model="faces", model_sha256=model_sha, dim=dim)


def test_create_with_bad_model_sha_raises_value_error_and_leaves_no_file(tmp_path, dim):
    with pytest.raises(ValueError, match="model_sha256"):
        GalleryStore.create(tmp_path / "x.sqlite", name="x", model="m", model_sha256="abc", dim=dim)
    assert not (tmp_path / "x.sqlite").exists()


def test_list_identities_pages_by_name_with_counts_and_metadata(store, unit_vectors, shas):
    for name, n in [("carol", 1), ("alice", 3), ("bob", 2)]:
        store.add(name, unit_vectors(n), shas(n), {"n": n})
    total, page = store.list_identities(offset=1, limit=2)
    assert total == 3
    assert [(s.identity, s.references, s.metadata) for s in page] == [
        ("bob", 2, {"n": 2}),
        ("carol", 1, {"n": 1}),
    ]


def test_add_existing_identity_without_metadata_keeps_old_metadata(store, unit_vectors, shas):
    store.add("alice", unit_vectors(1), shas(1), {"team": "red"})
    store.add("alice", unit_vectors(1), shas(1), None)
    _, page = store.list_identities(offset=0, limit=5)
    assert page[0].metadata == {"team": "red"} and page[0].references == 2


def test_delete_last_reference_drops_its_identity(store, unit_vectors, shas):
    ids = store.add("alice", unit_vectors(2), shas(2))
    assert store.delete_reference(ids[0]) == "alice"
    assert store.has_identity("alice")
    store.delete_reference(ids[1])
    assert not store.has_identity("alice") and store.counts() == (0, 0)


def test_delete_unknown_identity_and_reference_raise_not_found(store):
    with pytest.raises(IdentityNotFound):
        store.delete_identity("nobody")
    with pytest.raises(ReferenceNotFound):
        store.delete_reference(42)


def test_iter_embeddings_with_truncated_blob_raises_store_corrupt(store, store_path, unit_vectors, shas):
    store.add("alice", unit_vectors(2), shas(2))
    with sqlite3.connect(store_path) as conn:
        conn.execute("UPDATE \"references\" SET embedding = x'0000' WHERE id = 2")
    with pytest.raises(StoreCorrupt, match="bytes"):
        store.load_embeddings()


@pytest.mark.parametrize("identity", ["", "x" * 129, "tab\there", "new\nline", None])
def test_add_invalid_identity_raises_value_error(store, unit_vectors, shas, identity):
    with pytest.raises(ValueError, match="identity"):
        store.add(identity, unit_vectors(1), shas(1))


def test_reference_ids_and_stats_track_deletes(store, unit_vectors, shas):
    store.add("alice", unit_vectors(3), shas(3))
    store.add("bob", unit_vectors(2), shas(2))
    store.delete_reference(2)
    assert store.reference_ids().tolist() == [1, 3, 4, 5]
    assert store.reference_stats() == (4, 5)
    chunks = list(store.reference_identities(batch=3))
    assert [len(ids) for ids, _ in chunks] == [3, 1]
    pairs = {int(i): name for ids, names in chunks for i, name in zip(ids, names, strict=True)}
    assert pairs == {1: "alice", 3: "alice", 4: "bob", 5: "bob"}


@pytest.mark.parametrize("reference_id", [2**63, 2**64, -(2**70)])
def test_delete_reference_id_outside_int64_raises_reference_not_found(
    store, unit_vectors, shas, reference_id
):
    store.add("alice", unit_vectors(1), shas(1))
    with pytest.raises(ReferenceNotFound):
        store.delete_reference(reference_id)
    assert store.counts() == (1, 1)


def test_list_identities_offset_beyond_int64_returns_empty_page(store, unit_vectors, shas):
    store.add("alice", unit_vectors(1), shas(1))
    assert store.list_identities(offset=2**64, limit=2**64) == (1, [])


def test_add_metadata_nested_too_deep_raises_value_error_and_stores_nothing(store, unit_vectors, shas):
    metadata: dict = {}
    for _ in range(40):
        metadata = {"a": metadata}
    with pytest.raises(ValueError, match="deep"):
        store.add("alice", unit_vectors(1), shas(1), metadata)
    assert store.counts() == (0, 0)


@pytest.mark.parametrize(
    ("identity", "metadata"),
    [
        ("alice", {"a": "\ud800"}),
        ("alice", {"\udfff": 1}),
        ("alice", {"a": ["x\udbff"]}),
        ("al\ud800ice", None),
    ],
)
def test_add_lone_surrogate_raises_value_error_and_stores_nothing(
    store, unit_vectors, shas, identity, metadata
):
    with pytest.raises(ValueError, match="surrogate|printable"):
        store.add(identity, unit_vectors(1), shas(1), metadata)
    assert store.counts() == (0, 0)
