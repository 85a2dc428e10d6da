"""How a gallery gets its index at open: the snapshot as is, the snapshot reconciled, or a rebuild.

Reference ids are never reused and embeddings never change, so a snapshot whose ids are the store's holds
exactly the stored set, and a slightly stale one is fixed from the id sets alone. Every vector that enters an
index here is checked (`VectorIndex.add`): a damaged stored embedding is kept out and named, never indexed.
The snapshot's sidecar also shows a store rolled back under it (`gallery.rollback`): found here, put on
record, and the store's id sequence raised past the lost ids.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from gallery import rollback as rollbacks
from gallery.config import IndexConfig
from gallery.index import VectorIndex
from gallery.rollback import Rollback
from gallery.snapshot import Snapshot, read_sidecar, read_snapshot
from gallery.store import GalleryStore

log = logging.getLogger(__name__)

LOAD_BATCH = 65536  # rows per SQLite read when (re)building an index
RECONCILE_MAX_FRACTION = 0.25  # a snapshot further than this from the store is rebuilt instead


IndexSource = Literal["snapshot", "reconciled", "rebuilt"]


@dataclass(frozen=True)
class OpenedIndex:
    index: VectorIndex
    source: IndexSource  # the snapshot as is, the snapshot reconciled with the store, or a rebuild
    rollback: Rollback | None  # the store was found rolled back under its snapshot (now or on record)


def open_index(store: GalleryStore, *, config: IndexConfig, snapshot_path: Path | None) -> OpenedIndex:
    """The gallery's index, where it came from, and any rollback of the store under its snapshot. Without a
    usable snapshot, an HNSW index big enough to build in the background comes back as an exact (flat) one
    for now (seconds instead of minutes); the gallery sees the kind differ from the wanted one and builds the
    graph."""
    rows, max_id = store.reference_stats()
    snapshot = _own_snapshot(store, config=config, snapshot_path=snapshot_path)
    rollback = _rollback(store, snapshot, snapshot_path=snapshot_path, config=config)
    if snapshot is not None and snapshot.index.kind == config.kind_for(rows):
        same_counts = (snapshot.rows, snapshot.max_reference_id) == (rows, max_id)
        if same_counts and np.array_equal(snapshot.index.ids(), store.reference_ids()):
            return OpenedIndex(snapshot.index, "snapshot", rollback)
        if reconcile(store, snapshot.index):
            return OpenedIndex(snapshot.index, "reconciled", rollback)
    return OpenedIndex(build_from_store(store, config=config, stopgap=True), "rebuilt", rollback)


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


def _own_snapshot(store: GalleryStore, *, config: IndexConfig, snapshot_path: Path | None) -> Snapshot | None:
    """The snapshot if it is usable and belongs to this store (of whatever kind)."""
    if snapshot_path is None or not config.snapshots:
        return None
    snapshot = read_snapshot(snapshot_path, dim=store.meta.dim, config=config)
    if snapshot is None or snapshot.stamp != store_stamp(store):
        return None
    return snapshot


def _rollback(
    store: GalleryStore, snapshot: Snapshot | None, *, snapshot_path: Path | None, config: IndexConfig
) -> Rollback | None:
    """A rollback found now (put on record, then the id sequence raised past the snapshot's max id, so the
    lost ids are never handed out again), else the one on record, else None. The sidecar alone tells a
    rollback; the snapshot's ids, when its index file is usable, name the lost references."""
    if snapshot_path is None or not config.snapshots:
        return None
    stamp = store_stamp(store)
    record = rollbacks.record_path(snapshot_path)
    body = read_sidecar(snapshot_path)
    recorded = _recorded_counts(body) if body is not None and body.get("stamp") == stamp else None
    if recorded is not None:
        found = rollbacks.detect(
            snapshot_max_id=recorded[1],
            snapshot_rows=recorded[0],
            snapshot_ids=None if snapshot is None else snapshot.index.ids(),
            store_last_id=store.last_reference_id(),
            stored_ids=store.reference_ids(),
            stamp=stamp,
        )
        if found is not None:
            log.error(
                "gallery %s: %s; first lost ids: %s", store.meta.name, found.reason, list(found.lost_ids[:20])
            )
            rollbacks.write_record(record, found)
            store.reserve_reference_ids(found.snapshot_max_id)
            return found
    return rollbacks.read_record(record, stamp=stamp)


def _recorded_counts(body: dict[str, Any]) -> tuple[int, int] | None:
    """(rows, max reference id) as the sidecar recorded them; None when it holds no such integers."""
    rows, max_id = body.get("rows"), body.get("max_reference_id")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (rows, max_id)):
        return None
    return rows, max_id


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
