"""Big HNSW builds run off the gallery's lock: the gallery keeps answering (exactly, at first open) while its
graph is built, takes the writes made meanwhile, and swaps the graph in when it is done.

The builder's first step reads the store under the store's lock, so holding that lock in the test thread
keeps the build from starting: that is how these tests look at a gallery in mid-build.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest

from gallery import Gallery
from gallery.config import IndexConfig
from gallery.store import GalleryStore
from gallery.types import IndexState

MODEL_SHA = "a" * 64
CONFIG = IndexConfig(ann_min_size=60, background_build_min=60)  # every HNSW build here is a background one


def _filled_store(path: Path, vectors: np.ndarray, shas, *, per: int = 3) -> GalleryStore:
    store = GalleryStore.create(
        path, name="faces", model="faces", model_sha256=MODEL_SHA, dim=vectors.shape[1]
    )
    for i in range(len(vectors) // per):
        store.add(f"id{i}", vectors[i * per : (i + 1) * per], shas(per))
    return store


def _exact_nearest(vectors: np.ndarray, queries: np.ndarray, per: int = 3) -> list[str]:
    return [f"id{int(np.argmax(vectors @ q)) // per}" for q in queries]


def test_first_open_answers_exactly_while_the_graph_builds_then_swaps_it_in(tmp_path, unit_vectors, shas):
    vectors = unit_vectors(240)
    store = _filled_store(tmp_path / "faces.sqlite", vectors, shas)
    queries = vectors[::7] + 0.05 * unit_vectors(len(vectors[::7]), seed=9)
    with store._lock:  # the builder waits for its first read
        gallery = Gallery(store, config=CONFIG)
        assert gallery.index_state == IndexState(kind="flat", references=240, building=True)
        found = gallery.search(queries, top_k=1)
        assert [row[0].identity for row in found] == _exact_nearest(vectors, queries)
    assert gallery.wait_for_index(timeout=30)
    assert gallery.index_state == IndexState(kind="hnsw", references=240, building=False)
    assert [row[0].identity for row in gallery.search(queries, top_k=1)] == _exact_nearest(vectors, queries)
    gallery.close()


def test_writes_made_during_the_build_are_in_the_swapped_index(tmp_path, unit_vectors, shas):
    vectors = unit_vectors(240)
    store = _filled_store(tmp_path / "faces.sqlite", vectors, shas)
    gallery = Gallery(store, config=CONFIG)
    gallery._lock.acquire()  # the builder builds, then waits here to swap its index in
    try:
        time.sleep(0.3)  # time to read and build 240 references (the result holds in any interleaving)
        [new_id] = gallery.add("newcomer", unit_vectors(1, seed=3), image_sha256s=shas(1))
        gallery.delete_identity("id0")
        assert gallery.index_state.kind == "flat"
    finally:
        gallery._lock.release()
    assert gallery.wait_for_index(timeout=30)
    assert gallery.index_state == IndexState(kind="hnsw", references=238, building=False)
    assert np.array_equal(gallery.index.ids(), store.reference_ids())
    [row] = gallery.search(unit_vectors(1, seed=3), top_k=1)
    assert (row[0].identity, row[0].reference_id) == ("newcomer", new_id)
    assert all(c.identity != "id0" for r in gallery.search(vectors[:3], top_k=3) for c in r)
    gallery.close()


def test_growing_past_ann_min_size_builds_the_graph_in_the_background(tmp_path, unit_vectors, shas):
    vectors = unit_vectors(66)
    store = _filled_store(tmp_path / "faces.sqlite", vectors[:57], shas)
    gallery = Gallery(store, config=CONFIG)
    assert gallery.index_state == IndexState(kind="flat", references=57, building=False)
    with store._lock:
        gallery.add("crossing", vectors[57:], image_sha256s=shas(9))
        assert gallery.index_state == IndexState(kind="flat", references=66, building=True)
        [row] = gallery.search(vectors[60:61], top_k=1)
        assert row[0].identity == "crossing"
    assert gallery.wait_for_index(timeout=30)
    assert gallery.index_state == IndexState(kind="hnsw", references=66, building=False)
    gallery.close()


def test_compaction_keeps_the_tombstoned_graph_answering_until_the_new_one_is_in(
    tmp_path, unit_vectors, shas
):
    vectors = unit_vectors(240)
    store = _filled_store(tmp_path / "faces.sqlite", vectors, shas)
    gallery = Gallery(store, config=CONFIG)
    assert gallery.wait_for_index(timeout=30) and gallery.index.kind == "hnsw"
    with store._lock:
        for i in range(20):  # 60 of 240 references: past compact_fraction 0.2
            gallery.delete_identity(f"id{i}")
        assert gallery.index_state == IndexState(kind="hnsw", references=180, building=True)
        assert len(gallery.index.tombstones) == 60
        found = gallery.search(vectors[60:], top_k=1)
    assert [row[0].identity for row in found] == [f"id{20 + i // 3}" for i in range(180)]
    assert gallery.wait_for_index(timeout=30)
    assert gallery.index.kind == "hnsw" and gallery.index.tombstones == frozenset()
    assert gallery.index.ntotal == 180
    gallery.close()


def test_closing_during_a_build_ends_it_and_writes_no_snapshot_of_the_stopgap(tmp_path, unit_vectors, shas):
    store = _filled_store(tmp_path / "faces.sqlite", unit_vectors(240), shas)
    snapshot = tmp_path / "faces.faiss"
    with store._lock:
        gallery = Gallery(store, config=CONFIG, snapshot_path=snapshot)
        assert gallery.building
        gallery.close()
    assert gallery.wait_for_index(timeout=30)
    assert not snapshot.exists()


@pytest.mark.parametrize("size", [59, 60])
def test_builds_in_background_from_its_threshold(size):
    assert CONFIG.builds_in_background(size) is (size >= 60)


def test_a_build_that_fails_at_the_swap_is_logged_and_not_left_marked_building(
    tmp_path, unit_vectors, shas, caplog
):
    path = tmp_path / "faces.sqlite"
    store = _filled_store(path, unit_vectors(240), shas)
    gallery = Gallery(store, config=CONFIG)
    with gallery._lock:  # the builder builds, then waits here to swap
        time.sleep(0.3)
        other = sqlite3.connect(
            path, isolation_level=None
        )  # a row the store cannot decode, committed meanwhile
        other.execute(
            'INSERT INTO "references" (identity, embedding, image_sha256, created_at) VALUES (?, ?, ?, ?)',
            ("id0", b"xx", "f" * 64, "2026-01-01T00:00:00+00:00"),
        )
        other.close()
    assert gallery.wait_for_index(timeout=30)
    assert gallery.index_state.building is False
    assert "background index build failed" in caplog.text
    gallery.delete_identity("id1")  # a later write does not start a failing build again at once
    assert gallery.index_state.building is False
    gallery.close()
