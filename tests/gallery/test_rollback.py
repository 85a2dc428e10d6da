"""A store rolled back under its snapshot, on real files: a stale `-wal` copied back beside a checkpointed
SQLite file takes it from 180 references back to 90; the gallery serves the 90, names the 90 lost (and any
deleted ones back), never hands a lost id out again, and keeps the report across restarts until cleared."""

from __future__ import annotations

import shutil
import sqlite3

import numpy as np
import pytest

from gallery import GalleryRegistry
from gallery.rollback import detect, record_path
from gallery.snapshot import sidecar_path

STAMP = {"name": "faces", "created_at": "then", "model_sha256": "a" * 64}


def _reopen(tmp_path, **options) -> GalleryRegistry:
    registry = GalleryRegistry(tmp_path, **options)
    registry.open()
    return registry


def _rolled_back(tmp_path, unit_vectors, shas, dim, *, deleted_before_copy=(), **options) -> np.ndarray:
    """180 references (one identity each, ids 1..180) whose store is then taken back to its state at 90 by a
    stale `-wal` copied back; `deleted_before_copy` are deleted after the copy, before the snapshot."""
    galleries = tmp_path / "galleries"
    vectors = unit_vectors(180, dim)
    registry = _reopen(tmp_path, **options)
    gallery = registry.create("faces", model="faces", model_sha256="a" * 64, dim=dim)
    for i in range(90):
        gallery.add(f"person-{i}", vectors[i : i + 1], image_sha256s=shas(1))
    wal = galleries / "faces.sqlite-wal"
    shutil.copy(wal, tmp_path / "stale-wal")  # every commit so far lies in the WAL, none checkpointed
    for i in range(90, 180):
        gallery.add(f"person-{i}", vectors[i : i + 1], image_sha256s=shas(1))
    for reference_id in deleted_before_copy:
        gallery.delete_reference(reference_id)
    registry.close()  # checkpoints into the file, removes the WAL, writes the snapshot (max id 180)
    assert not wal.exists() and sidecar_path(galleries / "faces.faiss").is_file()
    shutil.copy(tmp_path / "stale-wal", wal)
    with sqlite3.connect(galleries / "faces.sqlite") as conn:  # SQLite itself takes the stale WAL
        count, seq = conn.execute(
            "SELECT (SELECT COUNT(*) FROM \"references\"), seq FROM sqlite_sequence WHERE name = 'references'"
        ).fetchone()
    assert (count, seq) == (90, 90)
    return vectors


@pytest.mark.parametrize("ann_min_size", [None, 10], ids=["flat", "hnsw"])
def test_stale_wal_copied_back_is_reported_and_the_store_still_serves(
    tmp_path, unit_vectors, shas, dim, ann_min_size
):
    vectors = _rolled_back(tmp_path, unit_vectors, shas, dim, ann_min_size=ann_min_size)
    registry = _reopen(tmp_path, ann_min_size=ann_min_size)
    gallery = registry.get("faces")
    rollback = gallery.rollback
    assert rollback is not None
    assert (rollback.snapshot_max_id, rollback.store_last_id) == (180, 90)
    assert (rollback.snapshot_rows, rollback.store_rows) == (180, 90)
    assert rollback.lost_count == 90 and rollback.lost_ids == tuple(range(91, 181))
    assert rollback.restored_count == 0
    assert "90 references lost" in rollback.reason and "180" in rollback.reason
    # it serves what SQLite holds: the 90 still there answer right, none of the lost ones is searched
    assert gallery.size == (90, 90) and gallery.index.ntotal == 90
    found = gallery.search(vectors[:90], top_k=1)
    assert [row[0].identity for row in found] == [f"person-{i}" for i in range(90)]
    assert all(row[0].reference_id <= 90 for row in gallery.search(vectors[90:], top_k=1))
    # a lost id is never handed out again: the next reference gets 181, not 91
    assert gallery.add("newcomer", vectors[:1], image_sha256s=shas(1)) == [181]
    registry.close()

    registry = _reopen(tmp_path, ann_min_size=ann_min_size)  # on record across a restart
    gallery = registry.get("faces")
    assert gallery.rollback == rollback and gallery.size == (91, 91)
    assert gallery.clear_rollback() == rollback and gallery.rollback is None
    assert not record_path(tmp_path / "galleries" / "faces.faiss").exists()
    registry.close()
    registry = _reopen(tmp_path, ann_min_size=ann_min_size)
    assert registry.get("faces").rollback is None
    registry.close()


def test_references_deleted_before_the_snapshot_and_back_are_named(tmp_path, unit_vectors, shas, dim):
    _rolled_back(tmp_path, unit_vectors, shas, dim, deleted_before_copy=(3, 7, 150))
    registry = _reopen(tmp_path)
    rollback = registry.get("faces").rollback
    assert rollback is not None and rollback.snapshot_rows == 177
    assert rollback.lost_count == 89 and 150 not in rollback.lost_ids  # 150 was deleted, not lost
    assert rollback.restored_count == 2 and rollback.restored_ids == (3, 7)
    assert "2 deleted references back" in rollback.reason
    registry.close()


def test_rollback_under_an_unreadable_index_file_is_still_found(tmp_path, unit_vectors, shas, dim):
    _rolled_back(tmp_path, unit_vectors, shas, dim)
    index_file = tmp_path / "galleries" / "faces.faiss"
    index_file.write_bytes(index_file.read_bytes()[:-8] + b"\0" * 8)  # its sha256 no longer the sidecar's
    registry = _reopen(tmp_path)
    gallery = registry.get("faces")
    assert gallery.index_source == "rebuilt" and gallery.size == (90, 90)
    rollback = gallery.rollback
    assert rollback is not None and rollback.lost_count is None and rollback.lost_ids == ()
    assert "references 91..180 lost" in rollback.reason
    registry.close()


def test_deleting_the_gallery_removes_its_rollback_record(tmp_path, unit_vectors, shas, dim):
    _rolled_back(tmp_path, unit_vectors, shas, dim)
    registry = _reopen(tmp_path)
    record = record_path(tmp_path / "galleries" / "faces.faiss")
    assert registry.get("faces").rollback is not None and record.is_file()
    registry.delete("faces")
    assert not record.exists()
    registry.create("faces", model="faces", model_sha256="a" * 64, dim=dim)
    assert registry.get("faces").rollback is None
    registry.close()


def test_an_ordinary_store_is_never_taken_for_rolled_back(tmp_path, unit_vectors, shas, dim):
    """Deletes after the snapshot lower the count and the max id present, never the sequence."""
    vectors = unit_vectors(20, dim)
    registry = _reopen(tmp_path)
    gallery = registry.create("faces", model="faces", model_sha256="a" * 64, dim=dim)
    for i in range(20):
        gallery.add(f"person-{i}", vectors[i : i + 1], image_sha256s=shas(1))
    registry.close()
    registry = _reopen(tmp_path)
    for reference_id in range(10, 21):
        registry.get("faces").delete_reference(reference_id)
    registry.get("faces").close(snapshot=False)  # the snapshot still says 20 references, max id 20
    registry = _reopen(tmp_path)
    assert registry.get("faces").rollback is None and registry.get("faces").size == (9, 9)
    registry.close()


def test_detect_is_pure_over_the_id_sets():
    stored = np.arange(1, 91, dtype=np.int64)
    kwargs = {"snapshot_rows": 180, "stamp": STAMP, "stored_ids": stored}
    assert detect(snapshot_max_id=180, snapshot_ids=None, store_last_id=180, **kwargs) is None
    found = detect(snapshot_max_id=180, snapshot_ids=np.arange(1, 181), store_last_id=90, **kwargs)
    assert found is not None and found.lost_count == 90 and found.lost_ids[0] == 91
    many = detect(
        snapshot_max_id=5000,
        snapshot_rows=5000,
        snapshot_ids=np.arange(1, 5001),
        store_last_id=10,
        stored_ids=np.arange(1, 11),
        stamp=STAMP,
    )
    assert many is not None and many.lost_count == 4990 and len(many.lost_ids) == 1000


def test_a_rollback_record_outlives_a_model_switch_but_not_a_recreated_gallery(tmp_path):
    from gallery.rollback import Rollback, read_record, write_record

    stamp = {"name": "faces", "created_at": "2026-01-01T00:00:00Z", "model_sha256": "a" * 64}
    finding = Rollback(
        snapshot_max_id=180, store_last_id=90, snapshot_rows=180, store_rows=90, lost_count=90,
        lost_ids=tuple(range(91, 181)), restored_count=0, restored_ids=(), found_at="now", stamp=stamp,
    )  # fmt: skip
    path = tmp_path / "faces.faiss.rollback.json"
    write_record(path, finding)
    migrated = {**stamp, "model_sha256": "b" * 64}
    assert read_record(path, stamp=migrated) == finding
    recreated = {**stamp, "created_at": "2026-02-01T00:00:00Z"}
    assert read_record(path, stamp=recreated) is None
