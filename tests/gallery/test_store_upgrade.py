"""A gallery file written by an older schema opens with the current code: upgraded in place, nothing lost."""

from __future__ import annotations

import sqlite3

import numpy as np

from gallery.migrations import LATEST_VERSION, MIGRATIONS
from gallery.store import GalleryStore


def _write_version_1(path, *, model_sha: str, vectors: np.ndarray, threshold: float | None) -> None:
    """What the version-1 code wrote: its schema, a meta row, one identity with references."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(
        "CREATE TABLE migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    (first,) = [m for m in MIGRATIONS if m.version == 1]
    for statement in first.statements:
        conn.execute(statement)
    conn.execute("INSERT INTO migrations VALUES (1, ?, '2026-01-01T00:00:00+00:00')", (first.name,))
    conn.execute("PRAGMA user_version = 1")
    conn.execute(
        "INSERT INTO meta VALUES (1, 'faces', 'faces', ?, ?, 'l2', ?, '2026-01-01T00:00:00+00:00')",
        (model_sha, vectors.shape[1], threshold),
    )
    conn.execute("INSERT INTO identities VALUES ('alice', '{\"team\": \"red\"}', '2026-01-01')")
    for i, row in enumerate(vectors, start=1):
        conn.execute(
            "INSERT INTO \"references\" VALUES (?, 'alice', ?, ?, '2026-01-01')",
            (i, row.astype("<f4").tobytes(), f"{i:064x}"),
        )
    conn.close()


def test_version_1_file_opens_upgraded_with_its_references_and_threshold(tmp_path, model_sha, unit_vectors):
    path = tmp_path / "faces.sqlite"
    vectors = unit_vectors(3)
    _write_version_1(path, model_sha=model_sha, vectors=vectors, threshold=0.4)
    store = GalleryStore.open(path)
    try:
        assert [v for v, _ in store.applied_migrations()] == list(range(1, LATEST_VERSION + 1))
        assert store.pragma("user_version") == LATEST_VERSION
        meta = store.meta
        assert (meta.threshold, meta.threshold_source, meta.keep_images) == (0.4, "override", True)
        ids, matrix = store.load_embeddings()
        assert ids.tolist() == [1, 2, 3] and matrix.tobytes() == vectors.astype("<f4").tobytes()
        assert store.image(1) is None  # enrolled before images were kept
        store.set_threshold(0.3, source="calibrated")
    finally:
        store.close()
    reopened = GalleryStore.open(path)
    try:
        assert (reopened.meta.threshold, reopened.meta.threshold_source) == (0.3, "calibrated")
        assert len(reopened.applied_migrations()) == LATEST_VERSION  # applied once, not again
    finally:
        reopened.close()


def test_version_1_file_without_threshold_has_no_source(tmp_path, model_sha, unit_vectors):
    path = tmp_path / "faces.sqlite"
    _write_version_1(path, model_sha=model_sha, vectors=unit_vectors(1), threshold=None)
    store = GalleryStore.open(path)
    try:
        assert (store.meta.threshold, store.meta.threshold_source) == (None, None)
    finally:
        store.close()


def test_cleared_threshold_forgets_its_source(store):
    store.set_threshold(0.5, source="calibrated")
    store.set_threshold(None)
    assert (store.meta.threshold, store.meta.threshold_source) == (None, None)
