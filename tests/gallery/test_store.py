"""GalleryStore on a real SQLite file, and PostgresStore on a real PostgreSQL server where the behaviour is the
store's (`any_store`, `backend`): pragmas, round trips, atomicity, id policy, migrations, corruption."""

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


def test_add_then_reopen_round_trips_exact_float32_bytes(any_store, backend, unit_vectors, shas, dim):
    vectors = unit_vectors(5)
    ids = any_store.add("alice", vectors, shas(5), {"team": "red"})
    any_store.close()
    reopened = backend.open()
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


def test_atomic_block_that_raises_leaves_nothing(any_store, unit_vectors, shas):
    with pytest.raises(RuntimeError, match="boom"), any_store.atomic():
        any_store.add("alice", unit_vectors(3), shas(3))
        raise RuntimeError("boom")
    assert any_store.counts() == (0, 0)
    assert any_store.reference_stats() == (0, 0)


def test_add_many_with_one_bad_entry_writes_nothing(any_store, unit_vectors, shas):
    good = Enrollment("alice", unit_vectors(2), tuple(shas(2)))
    bad = Enrollment("bob", unit_vectors(2), ("not-a-sha", *shas(1)))
    with pytest.raises(ValueError, match="sha256"):
        any_store.add_many([good, bad])
    assert any_store.counts() == (0, 0)


def test_add_wrong_dimension_raises_dimension_mismatch(any_store, unit_vectors, shas):
    with pytest.raises(DimensionMismatch, match="dimension 8"):
        any_store.add("alice", unit_vectors(2, dim=8), shas(2))


def test_reference_ids_are_never_reused_after_delete_and_reopen(any_store, backend, unit_vectors, shas):
    assert any_store.add("alice", unit_vectors(3), shas(3)) == [1, 2, 3]
    any_store.delete_identity("alice")
    any_store.close()
    reopened = backend.open()
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


def test_open_store_with_newer_schema_raises_store_corrupt(any_store, backend):
    any_store.close()
    backend.execute("INSERT INTO migrations VALUES (999, 'from the future', 'now')")
    with pytest.raises(StoreCorrupt, match="newer"):
        backend.open()


def test_migrations_are_recorded_once_in_either_store(any_store, backend):
    any_store.close()
    reopened = backend.open()
    try:
        assert [version for version, _ in reopened.applied_migrations()] == list(range(1, LATEST_VERSION + 1))
    finally:
        reopened.close()


def test_open_file_that_is_not_sqlite_raises_store_corrupt(tmp_path):
    path = tmp_path / "junk.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreCorrupt):
        GalleryStore.open(path)


def test_open_missing_file_raises_gallery_not_found(tmp_path):
    with pytest.raises(GalleryNotFound):
        GalleryStore.open(tmp_path / "absent.sqlite")


def test_create_over_existing_store_raises_gallery_exists(any_store, backend):
    with pytest.raises(GalleryExists):
        backend.create()


def test_create_with_bad_model_sha_raises_value_error_and_leaves_no_file(tmp_path, dim):
    with pytest.raises(ValueError, match="model_sha256"):
        GalleryStore.create(tmp_path / "x.sqlite", name="x", model="m", model_sha256="abc", dim=dim)
    assert not (tmp_path / "x.sqlite").exists()


def test_list_identities_pages_by_name_with_counts_and_metadata(any_store, unit_vectors, shas):
    for name, n in [("carol", 1), ("alice", 3), ("bob", 2)]:
        any_store.add(name, unit_vectors(n), shas(n), {"n": n})
    total, page = any_store.list_identities(offset=1, limit=2)
    assert total == 3
    assert [(s.identity, s.references, s.metadata) for s in page] == [
        ("bob", 2, {"n": 2}),
        ("carol", 1, {"n": 1}),
    ]


def test_add_existing_identity_without_metadata_keeps_old_metadata(any_store, unit_vectors, shas):
    any_store.add("alice", unit_vectors(1), shas(1), {"team": "red"})
    any_store.add("alice", unit_vectors(1), shas(1), None)
    _, page = any_store.list_identities(offset=0, limit=5)
    assert page[0].metadata == {"team": "red"} and page[0].references == 2


def test_delete_last_reference_drops_its_identity(any_store, unit_vectors, shas):
    ids = any_store.add("alice", unit_vectors(2), shas(2))
    assert any_store.delete_reference(ids[0]) == "alice"
    assert any_store.has_identity("alice")
    any_store.delete_reference(ids[1])
    assert not any_store.has_identity("alice") and any_store.counts() == (0, 0)


def test_delete_unknown_identity_and_reference_raise_not_found(any_store):
    with pytest.raises(IdentityNotFound):
        any_store.delete_identity("nobody")
    with pytest.raises(ReferenceNotFound):
        any_store.delete_reference(42)


def test_iter_embeddings_with_truncated_blob_raises_store_corrupt(any_store, backend, unit_vectors, shas):
    any_store.add("alice", unit_vectors(2), shas(2))
    blob = "x'0000'" if backend.kind == "sqlite" else "'\\x0000'::bytea"
    backend.execute(f'UPDATE "references" SET embedding = {blob} WHERE id = 2')
    with pytest.raises(StoreCorrupt, match="bytes"):
        any_store.load_embeddings()


@pytest.mark.parametrize("identity", ["", "x" * 129, "tab\there", "new\nline", None])
def test_add_invalid_identity_raises_value_error(any_store, unit_vectors, shas, identity):
    with pytest.raises(ValueError, match="identity"):
        any_store.add(identity, unit_vectors(1), shas(1))


def test_reference_ids_and_stats_track_deletes(any_store, unit_vectors, shas):
    any_store.add("alice", unit_vectors(3), shas(3))
    any_store.add("bob", unit_vectors(2), shas(2))
    any_store.delete_reference(2)
    assert any_store.reference_ids().tolist() == [1, 3, 4, 5]
    assert any_store.reference_stats() == (4, 5)
    chunks = list(any_store.reference_identities(batch=3))
    assert [len(ids) for ids, _ in chunks] == [3, 1]
    pairs = {int(i): name for ids, names in chunks for i, name in zip(ids, names, strict=True)}
    assert pairs == {1: "alice", 3: "alice", 4: "bob", 5: "bob"}


@pytest.mark.parametrize("reference_id", [2**63, 2**64, -(2**70)])
def test_delete_reference_id_outside_int64_raises_reference_not_found(
    any_store, unit_vectors, shas, reference_id
):
    any_store.add("alice", unit_vectors(1), shas(1))
    with pytest.raises(ReferenceNotFound):
        any_store.delete_reference(reference_id)
    assert any_store.counts() == (1, 1)


def test_list_identities_offset_beyond_int64_returns_empty_page(any_store, unit_vectors, shas):
    any_store.add("alice", unit_vectors(1), shas(1))
    assert any_store.list_identities(offset=2**64, limit=2**64) == (1, [])


def test_add_metadata_nested_too_deep_raises_value_error_and_stores_nothing(any_store, unit_vectors, shas):
    metadata: dict = {}
    for _ in range(40):
        metadata = {"a": metadata}
    with pytest.raises(ValueError, match="deep"):
        any_store.add("alice", unit_vectors(1), shas(1), metadata)
    assert any_store.counts() == (0, 0)


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
    any_store, unit_vectors, shas, identity, metadata
):
    with pytest.raises(ValueError, match="surrogate|printable"):
        any_store.add(identity, unit_vectors(1), shas(1), metadata)
    assert any_store.counts() == (0, 0)
