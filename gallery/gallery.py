"""Gallery: one store (the truth) plus one derived index, kept consistent under one lock.

An identity's distance is its nearest reference's "l2" distance; `search` aggregates neighbours per
identity and asks FAISS for more neighbours until `top_k` distinct identities are found.

A big HNSW build (first open without a snapshot, growing past `ann_min_size`, compaction after deletes)
runs on a thread of its own, off the lock, while the gallery goes on answering from the index it has; the
new index is then reconciled with the store under the lock (what was added or deleted meanwhile) and
swapped in.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from gallery import inputs
from gallery.calibration import identities_of_rows
from gallery.centroids import POOL, CentroidCache
from gallery.changelog import NO_LAG, Changes, Lag
from gallery.config import IndexConfig
from gallery.errors import GalleryBusy, GalleryNotFound, ModelMismatch
from gallery.index import VectorIndex
from gallery.integrity import bad_rows, why_bad
from gallery.labels import NONE, ReferenceLabels, aggregate
from gallery.loading import build_from_store, open_index, reconcile, store_stamp
from gallery.migration import Failure, staged_index, switch
from gallery.rollback import Rollback, clear_record, record_path
from gallery.snapshot import write_snapshot
from gallery.storage import StorageHealth, StorageProblem, storage_errors
from gallery.store import GalleryStore
from gallery.types import (
    Candidate,
    Enrollment,
    GalleryInfo,
    GalleryMeta,
    IdentitySummary,
    IndexState,
    KeptImage,
)
from modelcard.identification import STATISTICS

log = logging.getLogger(__name__)


class StoredReferences(NamedTuple):
    embeddings: np.ndarray  # (n, dim) float32, in reference id order
    identities: np.ndarray  # (n,) each row's identity
    damaged: dict[int, str]  # reference id -> what is wrong with its stored embedding: left out of the above


BUILD_RETRY_S = 60.0  # after a failed background build, the next one waits this long
FIRST_K = 32  # neighbours fetched first per query, at least 4 x top_k; grows 4x while identities are missing


class Gallery:
    """Thread-safe: every public method holds the gallery's lock."""

    def __init__(
        self, store: GalleryStore, *, config: IndexConfig, snapshot_path: Path | None = None
    ) -> None:
        self._store = store
        self._config = config
        self._snapshot_path = snapshot_path
        self._lock = threading.RLock()
        self._closed = False
        self._dirty = False
        self._storage = StorageHealth()  # the last failed write, until one succeeds
        self._builder: threading.Thread | None = None  # the background index build, while one runs
        self._build_failed_at = -math.inf
        # bumped by every model switch: a background build begun before one read the old model's vectors
        self._model_generation = 0
        self._follows = 0  # bumped each time labels and counts are read again from the store (_follow_store)
        self._centroids = CentroidCache(lambda name: store.identity_embeddings(name)[1])
        started = time.perf_counter()
        with store.consistent():  # the cursor, labels and index as of one instant of the store
            # the last change applied from the store's change log (None: no one else writes the store)
            self._applied_seq: int | None = store.log_head()
            self._identities = store.counts()[0]
            self._labels = ReferenceLabels.from_pairs(store.reference_identities())
            opened = open_index(store, config=config, snapshot_path=snapshot_path)
        # index_source says how the index was obtained at open: "snapshot", "reconciled" or "rebuilt"
        self._index, self.index_source = opened.index, opened.source
        self._rollback = opened.rollback  # the store was rolled back under its snapshot (gallery.rollback)
        took = time.perf_counter() - started
        log.info("gallery %s: %s index (%s) in %.2f s", self.name, self._index.kind, self.index_source, took)
        if self._index.rejected:
            log.error(
                "gallery %s: damaged references kept out of the index: %s", self.name, self._index.rejected
            )
        with self._lock:
            self._build_if_wanted()

    @property
    def name(self) -> str:
        return self._store.meta.name

    @property
    def meta(self) -> GalleryMeta:
        return self._store.meta

    @property
    def index(self) -> VectorIndex:
        return self._index

    @property
    def index_state(self) -> IndexState:
        """The index searched now, and whether a better one is being built in the background."""
        index = self._index  # read without the lock (one reference, then its fields): a write held up by a
        # store that hangs must not hold up a readiness probe
        return IndexState(kind=index.kind, references=index.ntotal, building=self.building)

    @property
    def damaged_references(self) -> dict[int, str]:
        """References whose stored embedding is not finite and unit norm, kept out of the index: id -> why.
        Read without the lock, as `index_state` is."""
        return self._index.rejected

    @property
    def rollback(self) -> Rollback | None:
        """The store was found rolled back under its snapshot (references lost): on record until cleared."""
        return self._rollback

    def clear_rollback(self) -> Rollback | None:
        """Take the rollback off record (an operator has dealt with it); returns what was cleared, or None."""
        with self._lock:
            self._ensure_open()
            cleared = self._rollback
            if cleared is not None and self._snapshot_path is not None:
                with (
                    self._storage.watch(),
                    storage_errors(f"clearing gallery {self.name!r}'s rollback record"),
                ):
                    clear_record(record_path(self._snapshot_path))
            self._rollback = None
            return cleared

    @property
    def storage_problem(self) -> StorageProblem | None:
        """The last write's storage failure (disk full, I/O error), until a write succeeds; None when healthy."""
        return self._storage.problem

    def probe_storage(self, *, min_interval_s: float) -> StorageProblem | None:
        """While a storage problem stands, commit a write that changes nothing (at most once per interval).
        The write runs off the gallery's lock: a store that hangs holds up no search. A gallery closed
        meanwhile (deleted) has no problem to report."""
        with self._lock:
            if self._closed:
                return None
        try:
            return self._storage.probe(self._write_nothing, min_interval_s=min_interval_s)
        except Exception:
            if self._closed:
                return None
            raise

    @property
    def size(self) -> tuple[int, int]:
        """(identities, references) held now, from memory (no store read): what identify's threshold follows."""
        return self._identities, len(self._labels)

    @property
    def building(self) -> bool:
        return self._builder is not None

    def wait_for_index(self, timeout: float | None = None) -> bool:
        """Wait for a background index build to finish; True when none is running any more."""
        builder = self._builder
        if builder is not None:
            builder.join(timeout)
        return not self.building

    @property
    def info(self) -> GalleryInfo:
        """The binding plus counts read from the store now."""
        with self._lock:
            self._ensure_open()
            if not self.follows_log:
                return self._info_now()
        # a store on a server: read off the gallery's lock (the store has its own), so that a server that
        # hangs holds up no search; a deleted gallery reads as GalleryNotFound, never as a closed file
        return self._info_now()

    def _info_now(self) -> GalleryInfo:
        identities, references = self._store.counts()
        meta = dataclasses.asdict(self._store.meta)
        return GalleryInfo(**meta, identities=identities, references=references)

    def check_model(self, model_sha256: str) -> None:
        """Refuse a model other than the one that embedded this gallery; the message says how to move on."""
        meta = self.meta
        if model_sha256 == meta.model_sha256:
            return
        if meta.keep_images:
            way = (
                f"re-embed it with the model now loaded: POST /galleries/{meta.name}/migrate "
                f'{{"model": "{meta.model}"}}'
            )
        else:
            way = "it keeps no images, so it cannot be migrated: delete it and enroll again"
        raise ModelMismatch(
            f"gallery {meta.name!r} was embedded by model {meta.model!r} sha256 {meta.model_sha256}, "
            f"not by sha256 {model_sha256}; {way}"
        )

    def add(
        self,
        identity: str,
        embeddings: np.ndarray,
        *,
        image_sha256s: Sequence[str],
        metadata: dict[str, Any] | None = None,
        images: Sequence[KeptImage] | None = None,
        model_sha256: str | None = None,
    ) -> list[int]:
        """Store then index one identity's references (with their kept images, if given); durable and
        searchable on return."""
        kept = None if images is None else tuple(images)
        entry = Enrollment(identity, embeddings, tuple(image_sha256s), metadata, kept)
        return self.add_many([entry], model_sha256=model_sha256)[0]

    def add_many(self, entries: Sequence[Enrollment], *, model_sha256: str | None = None) -> list[list[int]]:
        """`add` for several identities in one transaction (bulk loading); ids per entry, in order.
        `model_sha256`: the model that embedded them, checked under the lock (ModelMismatch if the gallery
        switched models meanwhile).

        Rows are inserted, then indexed, then committed: if indexing fails the transaction rolls back,
        and if the commit fails the new ids leave the index again."""
        if model_sha256 is not None:  # first: another model's vectors may have another width
            self.check_model(model_sha256)
        entries = [self._checked(entry) for entry in entries]
        if not entries:
            raise ValueError("nothing to add")
        with self._lock:
            self._ensure_open()
            if model_sha256 is not None:
                self.check_model(model_sha256)
            new_names = {e.identity for e in entries if not self._store.has_identity(e.identity)}
            indexed = np.empty(0, dtype=np.int64)
            follows = self._follows
            try:
                with self._storage.watch(), self._store.atomic():
                    if self.follows_log:
                        self._check_stored_model()
                    id_lists = self._store.add_many(entries)
                    indexed = np.fromiter((i for ids in id_lists for i in ids), dtype=np.int64)
                    self._index_new(np.vstack([e.embeddings for e in entries]), indexed)
            except BaseException:
                self._forget(indexed)
                raise
            self._centroids.forget(e.identity for e in entries)
            for entry, ids in zip(entries, id_lists, strict=True):
                self._labels.add(ids, entry.identity)
            if self._follows == follows:  # else a rebuild counted them already, from the store
                self._identities += len(new_names)
            self._dirty = True
        return id_lists

    def search(
        self,
        queries: np.ndarray,
        *,
        top_k: int,
        wait: bool | float = True,
        statistic: str = "nearest",
        model_sha256: str | None = None,
    ) -> list[list[Candidate]]:
        """Per query, up to `top_k` identities with their nearest reference, nearest first.

        `statistic="centroid"`: identities scored by the distance to the unit mean of their references
        instead (`gallery.centroids`; each still names its nearest reference). `wait=False`: raise
        `GalleryBusy` at once instead of waiting for a write in progress (a long one, such as an index
        rebuild, would otherwise hold up the caller's thread); a number: wait at most that many seconds, then
        raise `GalleryBusy`. `model_sha256`: the model that embedded the
        queries, checked under the lock (ModelMismatch if the gallery switched models meanwhile).
        """
        if statistic not in STATISTICS:
            raise ValueError(f"statistic must be one of {STATISTICS}, got {statistic!r}")
        if model_sha256 is not None:  # first: another model's vectors may have another width
            self.check_model(model_sha256)
        q = inputs.unit_rows(queries, dim=self.meta.dim, what="queries")
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
            raise ValueError(f"top_k must be a positive integer, got {top_k!r}")
        timeout = -1 if wait is True else 0 if wait is False else max(float(wait), 0.0)
        locked = self._lock.acquire(timeout=timeout) if timeout != 0 else self._lock.acquire(blocking=False)
        if not locked:
            waited = "" if isinstance(wait, bool) else f" for more than {wait:g} s"
            raise GalleryBusy(f"gallery {self.name!r} is busy with a write{waited}")
        try:
            self._ensure_open()
            if model_sha256 is not None:
                self.check_model(model_sha256)
            live = self._index.ntotal
            if live == 0:
                return [[] for _ in range(len(q))]
            if statistic == "nearest":
                return self._search_growing(q, top_k=top_k, live=live)
            pools = self._search_growing(q, top_k=max(top_k, POOL), live=live)
            return [
                self._centroids.rescore(row, pool, top_k=top_k) for row, pool in zip(q, pools, strict=True)
            ]
        finally:
            self._lock.release()

    def list_identities(self, *, offset: int, limit: int) -> tuple[int, list[IdentitySummary]]:
        with self._lock:
            self._ensure_open()
            return self._store.list_identities(offset=offset, limit=limit)

    def identity_embeddings(self, identity: str) -> np.ndarray:
        """One identity's reference embeddings (n, dim), read from the store; IdentityNotFound when absent."""
        with self._lock:
            self._ensure_open()
            return self._store.identity_embeddings(identity)[1]

    def stored_references(self) -> StoredReferences:
        """Every sound reference's embedding (n, dim) and identity (n,), in id order, read from the store at
        once; stored embeddings that fail the index's check (not finite, not unit norm) are left out and
        named, as the index leaves them out."""
        with self._lock:
            self._ensure_open()
            with self._store.consistent():  # both reads, page by page, as of one instant of the store
                ids, matrix = self._store.load_embeddings()
                pairs = self._store.reference_identities()
        identities = identities_of_rows(ids, pairs)
        bad = bad_rows(matrix)
        damaged = {int(i): why_bad(row) for i, row in zip(ids[bad], matrix[bad], strict=True)}
        if damaged:
            log.warning("gallery %s: damaged references left out of its stored set: %s", self.name, damaged)
        return StoredReferences(matrix[~bad], identities[~bad], damaged)

    def delete_identity(self, identity: str) -> int:
        """Delete an identity and its references; returns how many references went."""
        with self._lock:
            self._ensure_open()
            with self._storage.watch():
                ids = self._store.delete_identity(identity)
            self._centroids.forget([identity])
            self._labels.remove(ids)
            self._identities -= 1
            self._unindex(np.asarray(ids, dtype=np.int64))
        return len(ids)

    def delete_reference(self, reference_id: int) -> str:
        """Delete one reference (its identity goes with its last reference); returns the identity."""
        with self._lock:
            self._ensure_open()
            if isinstance(reference_id, bool) or not isinstance(reference_id, int | np.integer):
                raise ValueError(f"reference_id must be an integer, got {reference_id!r}")
            with self._storage.watch():
                identity = self._store.delete_reference(reference_id)
            self._centroids.forget([identity])
            self._labels.remove([int(reference_id)])
            self._identities -= 0 if self._store.has_identity(identity) else 1
            self._unindex(np.asarray([reference_id], dtype=np.int64))
        return identity

    def set_threshold(self, value: float | None, *, source: str = "override") -> None:
        """Set (None: clear) the gallery's own threshold, durably, with how it was set ("override" by hand,
        or "calibrated")."""
        with self._lock:
            self._ensure_open()
            with self._storage.watch():
                self._store.set_threshold(value, source=source)

    @property
    def follows_log(self) -> bool:
        """The store has other writers (replicas sharing it) whose changes `catch_up` applies."""
        return self._applied_seq is not None

    def catch_up(self) -> int:
        """Apply what other writers of the store committed since the last look (service replicas sharing a
        PostgreSQL gallery): references added and deleted, the meta row (a threshold; a model switch reloads
        the gallery). Idempotent: this process's own writes come back through the log and change nothing.
        Returns the number of changes read (0 for a store no one else writes)."""
        read = 0
        with self._lock:
            self._ensure_open()
            while self._applied_seq is not None:
                changes = self._store.changes_since(self._applied_seq)
                # read after the page: a prune that took part of it shows here, never silently
                if self._store.pruned_through() > self._applied_seq:  # left behind the pruned part of the log
                    log.warning(
                        "gallery %s: behind the pruned change log; reloading from the store", self.name
                    )
                    self._reload_from_store(model_changed=False)
                    continue
                self._apply(changes)
                read += len(changes.added) + len(changes.deleted) + int(changes.meta)
                self._applied_seq = max(self._applied_seq, changes.last_seq)
                if not changes.more:
                    break
        return read

    def log_lag(self) -> Lag:
        """How far this gallery is behind its store's change log (nothing, for a store no one else writes)."""
        with self._lock:
            self._ensure_open()
            applied = self._applied_seq
        # off the gallery's lock: a store that hangs (its server unreachable) holds up no search
        return NO_LAG if applied is None else self._store.log_lag(applied)

    @property
    def store(self) -> GalleryStore:
        """The store, for a model migration's reads and staged writes (each takes the store's own lock)."""
        return self._store

    def switch_model(self) -> list[Failure] | None:
        """Switch to the running migration's staged embeddings in one transaction (`gallery.migration.switch`)
        and search a new index built from them (off the lock, then brought up to date with the store); the
        dropped references, or None, changing nothing, while a reference is neither staged nor failed."""
        index = staged_index(self._store, config=self._config)
        with self._lock:
            self._ensure_open()
            with self._store.atomic() as conn:
                dropped = switch(conn)
            if dropped is None:
                return None
            self._store.reload_meta()
            self._labels.remove([f.reference_id for f in dropped])
            self._identities = self._store.counts()[0]
            self._centroids = CentroidCache(lambda name: self._store.identity_embeddings(name)[1])
            self._index, self.index_source, self._dirty = index, "rebuilt", True
            self._model_generation += 1
            with self._store.consistent():
                if reconcile(self._store, index):
                    self._follow_store(built_here=False)
                else:
                    self._rebuild()
            self._build_if_wanted()
        log.info(
            "gallery %s: switched to model %s (%d references dropped)",
            self.name,
            self.meta.model,
            len(dropped),
        )
        return dropped

    def image(self, reference_id: int, *, thumbnail: bool = False) -> tuple[bytes, str] | None:
        """(bytes, content type) of a reference's kept image or thumbnail; None when none was kept."""
        with self._lock:
            self._ensure_open()
            return self._store.image(reference_id, thumbnail=thumbnail)

    def save_snapshot(self) -> None:
        """Write the index snapshot now (also done by `close` when snapshots are enabled)."""
        with self._lock:
            self._ensure_open()
            if self._snapshot_path is None:
                raise ValueError(f"gallery {self.name!r} has no snapshot path")
            _, max_id = self._store.reference_stats()
            write_snapshot(self._snapshot_path, self._index, max_reference_id=max_id, stamp=self._stamp())
            self._dirty = False

    def close(self, *, snapshot: bool = True) -> None:
        """Write the snapshot if enabled and stale, then close the store; closing twice is harmless."""
        with self._lock:
            if self._closed:
                return
            try:
                # an index of a kind not wanted for its size (exact while the graph was being built) is not
                # kept: the next open would not take it
                wanted = self._index.kind == self._config.kind_for(self._index.ntotal)
                stale = wanted and (self._dirty or self.index_source != "snapshot")
                if snapshot and self._config.snapshots and self._snapshot_path is not None and stale:
                    self.save_snapshot()
            finally:
                self._closed = True
                self._store.close()

    def _search_growing(self, q: np.ndarray, *, top_k: int, live: int) -> list[list[Candidate]]:
        wanted = min(top_k, max(self._identities, 1))
        k = min(live, max(FIRST_K, 4 * top_k))
        results: list[list[Candidate] | None] = [None] * len(q)
        pending = np.arange(len(q))
        while pending.size:
            distances, ids = self._index.search(q[pending], k)
            codes = self._labels.codes(ids)
            for row, query in enumerate(pending):
                found = aggregate(distances[row], ids[row], codes[row], self._labels, top_k=top_k)
                if len(found) >= wanted or k >= live:
                    results[query] = found
            pending = np.array([i for i in pending if results[i] is None], dtype=np.int64)
            k = min(live, k * 4)
        return [r or [] for r in results]

    def _checked(self, entry: Enrollment) -> Enrollment:
        vectors = inputs.unit_rows(entry.embeddings, dim=self.meta.dim)
        inputs.sha256s(entry.image_sha256s, count=len(vectors))
        inputs.metadata_json(entry.metadata)
        return dataclasses.replace(entry, identity=inputs.identity(entry.identity), embeddings=vectors)

    def _index_new(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        grown = self._index.ntotal + len(ids)
        if (
            self._index.kind == "flat"
            and self._config.kind_for(grown) == "hnsw"
            and not self._config.builds_in_background(grown)
        ):
            self._rebuild()  # crossing ann_min_size; the store holds the new rows
            return
        self._index.add(vectors, ids)
        self._build_if_wanted()  # crossing ann_min_size with a big gallery: the graph is built off the lock

    def _forget(self, ids: np.ndarray) -> None:
        """After a rolled-back add, drop its ids from the index. SQLite will hand those ids out again, so
        an HNSW index that holds any of them is rebuilt: a tombstone would hide the next reference."""
        try:
            if not len(ids) or not np.isin(ids, self._index.ids()).any():
                return
            if self._index.kind == "flat":
                self._index.remove(ids)
                return
        except Exception:
            log.exception("gallery %s: cannot undo an index add", self.name)
        self._rebuild()

    def _unindex(self, ids: np.ndarray) -> None:
        self._dirty = True
        try:
            self._index.remove(ids)
        except Exception:
            log.exception("gallery %s: index removal failed; rebuilding from the store", self.name)
            self._rebuild()
            return
        if self._index.needs_compaction() and not self._config.builds_in_background(self._index.ntotal):
            self._rebuild()
        self._build_if_wanted()  # a big one keeps its tombstones until the compacted graph is built

    def _rebuild(self) -> None:
        """(under the lock) Rebuild from the store now; a big HNSW index is exact for now, its graph built
        in the background."""
        with self._store.consistent():
            if self.follows_log:
                self._reload_meta_seen()  # the width and model to read the embeddings with
            self._index_from_store()
            self._follow_store(built_here=True)
        self._build_if_wanted()

    def _index_from_store(self) -> None:
        """(under the lock) A new index read whole from the store: exact for now if the graph it wants is big
        enough to build in the background."""
        self.index_source = "rebuilt"
        self._index = build_from_store(self._store, config=self._config, stopgap=True)

    def _wants_build(self) -> bool:
        """(under the lock) An exact index where the size calls for a graph, or a graph due for compaction."""
        index = self._index
        upgrade = index.kind == "flat" and self._config.kind_for(index.ntotal) == "hnsw"
        return upgrade or index.needs_compaction()

    def _build_if_wanted(self) -> None:
        """(under the lock) Start the background build when one is wanted and none runs yet; a running one
        checks again when it is done, so what changed meanwhile is not missed. After a failed build the next
        try waits `BUILD_RETRY_S`, so a failing build is not restarted by every write."""
        if self._builder is not None or self._closed or not self._wants_build():
            return
        if time.monotonic() - self._build_failed_at < BUILD_RETRY_S:
            return
        builder = threading.Thread(
            target=self._build_in_background, name=f"index-build-{self.name}", daemon=True
        )
        builder.start()
        self._builder = builder  # only once it runs: a thread that failed to start must not look like a build

    def _build_in_background(self) -> None:
        """The builder thread: build from the store off the lock, then under the lock bring the new index up
        to date with the store and swap it in; again while the result is still not the index wanted. Any
        failure is logged (unless the gallery was closed under it, which ends a build this way) and ends the
        build, so the gallery never stays marked as building."""
        try:
            while self._build_once():
                pass
        except Exception:
            with self._lock:
                if not self._closed:
                    self._build_failed_at = time.monotonic()
                    log.exception("gallery %s: background index build failed", self.name)
        finally:
            with self._lock:
                if self._builder is threading.current_thread():
                    self._builder = None

    def _build_once(self) -> bool:
        """One build and swap; True when another is wanted (too much changed meanwhile, or still not the
        index the size calls for)."""
        started = time.perf_counter()
        with self._lock:
            generation = self._model_generation
        index = build_from_store(self._store, config=self._config)
        with self._lock:
            if self._closed:
                return False
            if generation != self._model_generation:  # a model switch meanwhile: these are the old vectors
                return True
            with self._store.consistent():
                if not reconcile(self._store, index):  # too much changed meanwhile
                    return True
                self._index, self.index_source, self._dirty = index, "rebuilt", True
                self._follow_store(built_here=False)
            took = time.perf_counter() - started
            log.info(
                "gallery %s: %s index over %d references built in the background in %.1f s",
                self.name,
                index.kind,
                index.ntotal,
                took,
            )
            return self._wants_build()

    def _apply(self, changes: Changes) -> None:
        """(under the lock) One page of the change log: what is not applied yet is applied."""
        if changes.empty:
            return
        if changes.meta and self._reload_meta_seen():
            self._reload_from_store(model_changed=True)
            return
        deleted = np.asarray(changes.deleted, dtype=np.int64)
        gone = deleted[self._labels.codes(deleted) != NONE]
        touched = {self._labels.name(code) for code in self._labels.codes(gone)}
        if len(gone):
            self._labels.remove(gone)
            self._unindex(gone)  # a compaction reads the store whole: the labels follow it (_follow_store)
        added = np.setdiff1d(np.asarray(changes.added, dtype=np.int64), deleted)
        added = added[self._labels.codes(added) == NONE]  # after the deletes: what is still not applied
        if len(added):
            ids, identities, matrix = self._store.references_by_id(added.tolist())  # deleted since: absent
            if len(ids):
                self._index_new(matrix, ids)
                for identity in set(identities):
                    self._labels.add(ids[np.asarray(identities) == identity], identity)
                touched.update(identities)
        if len(gone) or len(added):
            self._centroids.forget(touched)
            self._identities = self._store.counts()[0]
            self._dirty = True

    def _reload_from_store(self, *, model_changed: bool) -> None:
        """(under the lock) Labels, counts, index and cursor read again from the store at one instant: after
        another writer switched the model (the index rebuilt), or when the log no longer reaches back to the
        cursor (the index reconciled, or rebuilt if too far off)."""
        with self._store.consistent():
            seen = self._reload_meta_seen()  # a switch the pruned log no longer shows
            rebuilt = seen or model_changed or not reconcile(self._store, self._index)
            if rebuilt:
                self._index_from_store()
            self._follow_store(built_here=rebuilt)
        self._dirty = True
        self._build_if_wanted()

    def _follow_store(self, *, built_here: bool) -> None:
        """(under the lock, inside `consistent()`, right after the index was read from the store) For a store
        other writers share: meta, labels, counts and the cursor as of the same read, so that the index, the
        labels and the cursor agree and every later change in the log applies exactly once. A model switch
        committed elsewhere and not applied yet shows in the meta row: the index is then built again from the
        new embeddings, unless `built_here` (built whole within this same read, so already theirs)."""
        if self._applied_seq is None:
            return
        if self._reload_meta_seen() and not built_here:
            self._index_from_store()
        self._applied_seq = self._store.log_head()
        self._labels = ReferenceLabels.from_pairs(self._store.reference_identities())
        self._identities = self._store.counts()[0]
        self._centroids = CentroidCache(lambda name: self._store.identity_embeddings(name)[1])
        self._follows += 1

    def _reload_meta_seen(self) -> bool:
        """(under the lock) Read the meta row again; True when it names another model than before (a switch
        another writer committed), which also marks every background build begun before as stale."""
        before = self.meta
        self._store.reload_meta()
        if (self.meta.model_sha256, self.meta.dim) == (before.model_sha256, before.dim):
            return False
        log.info("gallery %s: switched to model %s by another writer", self.name, self.meta.model)
        self._model_generation += 1  # a background build begun before read the old model's vectors
        return True

    def _check_stored_model(self) -> None:
        """(inside a write transaction, under the store's write lock) The model the store records is the one
        this gallery serves: another writer may have switched it, committed before this replica caught up."""
        sha256, dim = self._store.stored_model()
        if (sha256, dim) != (self.meta.model_sha256, self.meta.dim):
            raise ModelMismatch(
                f"gallery {self.name!r} was switched to model sha256 {sha256} by another replica a moment "
                "ago; this replica is catching up, so try again"
            )

    def _write_nothing(self) -> None:
        """One committed write that leaves every value as it was: the meta row rewritten."""
        with self._store.atomic() as conn:
            conn.execute("UPDATE meta SET id = id WHERE id = 1")

    def _stamp(self) -> dict[str, Any]:
        return store_stamp(self._store)

    def _ensure_open(self) -> None:
        if self._closed:
            raise GalleryNotFound(f"gallery {self.name!r} was deleted or closed")
