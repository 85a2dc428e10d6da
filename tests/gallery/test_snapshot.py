"""Index snapshots: faiss.write_index plus a sidecar; anything doubtful reads back as None."""

import json

import numpy as np
import pytest

from gallery.config import IndexConfig
from gallery.index import VectorIndex
from gallery.snapshot import read_snapshot, sidecar_path, write_snapshot

STAMP = {"name": "faces", "created_at": "then", "model_sha256": "a" * 64}


@pytest.fixture
def hnsw(unit_vectors, dim) -> VectorIndex:
    index = VectorIndex.build(dim, np.arange(1, 201), unit_vectors(200), config=IndexConfig(ann_min_size=1))
    index.remove(np.array([5, 6, 7]))
    return index


def test_write_then_read_round_trips_results_tombstones_and_stamp(tmp_path, hnsw, unit_vectors, dim):
    path = tmp_path / "faces.faiss"
    write_snapshot(path, hnsw, max_reference_id=200, stamp=STAMP)
    snapshot = read_snapshot(path, dim=dim, config=IndexConfig(ann_min_size=1))
    assert snapshot is not None
    assert (snapshot.rows, snapshot.max_reference_id, snapshot.stamp) == (197, 200, STAMP)
    assert snapshot.index.kind == "hnsw" and snapshot.index.tombstones == {5, 6, 7}
    queries = unit_vectors(20, seed=3)
    assert (snapshot.index.search(queries, 5)[1] == hnsw.search(queries, 5)[1]).all()


def test_read_without_sidecar_returns_none(tmp_path, hnsw, dim):
    path = tmp_path / "faces.faiss"
    write_snapshot(path, hnsw, max_reference_id=200, stamp=STAMP)
    sidecar_path(path).unlink()  # as after a crash between the two writes
    assert read_snapshot(path, dim=dim, config=IndexConfig(ann_min_size=1)) is None


def test_read_with_other_hnsw_params_returns_none(tmp_path, hnsw, dim):
    path = tmp_path / "faces.faiss"
    write_snapshot(path, hnsw, max_reference_id=200, stamp=STAMP)
    assert read_snapshot(path, dim=dim, config=IndexConfig(ann_min_size=1, hnsw_m=16)) is None


def test_read_with_other_dimension_returns_none(tmp_path, hnsw, dim):
    path = tmp_path / "faces.faiss"
    write_snapshot(path, hnsw, max_reference_id=200, stamp=STAMP)
    assert read_snapshot(path, dim=dim * 2, config=IndexConfig(ann_min_size=1)) is None


def test_read_truncated_index_file_returns_none(tmp_path, hnsw, dim):
    path = tmp_path / "faces.faiss"
    write_snapshot(path, hnsw, max_reference_id=200, stamp=STAMP)
    path.write_bytes(path.read_bytes()[:1000])
    assert read_snapshot(path, dim=dim, config=IndexConfig(ann_min_size=1)) is None


def test_read_sidecar_with_wrong_row_count_returns_none(tmp_path, hnsw, dim):
    path = tmp_path / "faces.faiss"
    write_snapshot(path, hnsw, max_reference_id=200, stamp=STAMP)
    body = json.loads(sidecar_path(path).read_text())
    sidecar_path(path).write_text(json.dumps({**body, "ntotal": body["ntotal"] + 1}))
    assert read_snapshot(path, dim=dim, config=IndexConfig(ann_min_size=1)) is None
