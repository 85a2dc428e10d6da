"""How a gallery gets its index at open: the snapshot as is, the snapshot reconciled, or a rebuild.

Reference ids are never reused and embeddings never change, so a snapshot whose ids are the store's holds
exactly the stored set, and a slightly stale one is fixed from the id sets alone. Every vector that enters an
index here is checked (`VectorIndex.add`): a damaged stored embedding is kept out and named, never indexed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from gallery.config import IndexConfig
from gallery.index import VectorIndex
from gallery.snapshot import Snapshot, read_snapshot
from gallery.store import GalleryStore

LOAD_BATCH = 65536  # rows per SQLite read when (re)building an index
RECONCILE_MAX_FRACTION = 0.25  # a snapshot further than this from the store is rebuilt instead


def open_index(
    store: GalleryStore, *, config: IndexConfig, snapshot_path: Path | None
) -> tuple[VectorIndex, str]:
    """The gallery's index and where it came from: "snapshot", "reconciled" or "rebuilt". Without a usable
    snapshot, an HNSW index big enough to build in the background comes back as an exact (flat) one for now
    (seconds instead of minutes); the gallery sees the kind differ from the wanted one and builds the graph."""
    rows, max_id = store.reference_stats()
    snapshot = _matching_snapshot(store, rows=rows, config=config, snapshot_path=snapshot_path)
    if snapshot is not None:
        same_counts = (snapshot.rows, snapshot.max_reference_id) == (rows, max_id)
        if same_counts and np.array_equal(snapshot.index.ids(), store.reference_ids()):
            return snapshot.index, "snapshot"
        if reconcile(store, snapshot.index):
            return snapshot.index, "reconciled"
    return build_from_store(store, config=config, stopgap=True), "rebuilt"


def build_from_store(store: GalleryStore, *, config: IndexConfig, stopgap: bool = False) -> VectorIndex:
    """A fresh index streamed from the store chunk by chunk (no second full copy in memory), of the kind
    `config` wants for the stored count. With `stopgap`, a count big enough to build in the background gets
    an exact (flat) index for now, seconds instead of minutes, for the gallery to replace with the graph. It
    holds the references stored when it began: a build running beside steady enrolment does not chase the
    newest rows."""
    count, max_id = store.reference_stats()
    kind = "flat" if stopgap and config.builds_in_background(count) else config.kind_for(count)
    index = VectorIndex(store.meta.dim, config=config, kind=kind)
    for ids, vectors in store.iter_embeddings(batch=LOAD_BATCH):
        within = ids <= max_id  # what was stored when the build began; later rows are reconciled after
        index.add(vectors[within], ids[within])
        if not within.all() or ids[-1] == max_id:
            break
    return index


def store_stamp(store: GalleryStore) -> dict[str, Any]:
    """What ties a snapshot to one store: a gallery re-created under the same name gets a new stamp."""
    meta = store.meta
    return {"name": meta.name, "created_at": meta.created_at, "model_sha256": meta.model_sha256}


def _matching_snapshot(
    store: GalleryStore, *, rows: int, config: IndexConfig, snapshot_path: Path | None
) -> Snapshot | None:
    """The snapshot if it belongs to this store and is of the kind `config` wants for `rows` references."""
    if snapshot_path is None or not config.snapshots:
        return None
    snapshot = read_snapshot(snapshot_path, dim=store.meta.dim, config=config)
    if snapshot is None or snapshot.stamp != store_stamp(store):
        return None
    if snapshot.index.kind != config.kind_for(rows):
        return None
    return snapshot


def reconcile(store: GalleryStore, index: VectorIndex) -> bool:
    """Remove what the store lost and add what it gained; False when the gap is too wide to be worth it
    (or the removals leave an HNSW index due for compaction)."""
    stored, indexed = store.reference_ids(), index.ids()
    stale, missing = np.setdiff1d(indexed, stored), np.setdiff1d(stored, indexed)
    if len(stale) + len(missing) > RECONCILE_MAX_FRACTION * max(len(stored), 1):
        return False
    index.remove(stale)
    if index.needs_compaction():
        return False
    if len(missing):
        _add_missing(store, index, missing)
    return True


def _add_missing(store: GalleryStore, index: VectorIndex, missing: np.ndarray) -> None:
    """Add the stored references whose ids are in `missing` (ascending)."""
    for chunk_ids, chunk in store.iter_embeddings(batch=LOAD_BATCH, after_id=int(missing[0]) - 1):
        keep = np.isin(chunk_ids, missing)
        if keep.any():
            index.add(chunk[keep], chunk_ids[keep])
        if chunk_ids[-1] >= missing[-1]:
            return
