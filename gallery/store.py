"""GalleryStore: one SQLite file per gallery, the durable source of truth (WAL, synchronous=FULL).

Every write runs in `atomic()` (BEGIN IMMEDIATE / COMMIT / ROLLBACK); embeddings are float32
little-endian blobs of exactly dim*4 bytes, read back in bulk with `numpy.frombuffer`.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import numpy as np

from gallery import images, inputs
from gallery.changelog import NO_LAG, Changes, Lag
from gallery.creation import write_new_store
from gallery.distance import METRICS
from gallery.errors import (
    GalleryError,
    GalleryExists,
    GalleryNotFound,
    IdentityNotFound,
    ReferenceNotFound,
    StoreCorrupt,
)
from gallery.sqlite import connect, database_files, migrate, transaction, utc_now
from gallery.storage import storage_errors
from gallery.types import Enrollment, GalleryMeta, IdentitySummary, KeptImage

EMBEDDING_DTYPE = np.dtype("<f4")
THRESHOLD_SOURCES = ("override", "calibrated")
SQLITE_MAX_INT = 2**63 - 1  # SQLite INTEGER is int64: larger Python ints cannot even be bound


class Lease:
    """The right to do one kind of work on a store that several processes may share (a model migration),
    held from `try_lease` until `release` (or the holder's death, for a store on a server)."""

    def __init__(self, held: bool, release: Callable[[], None] | None = None) -> None:
        self.held = held
        self._release = release

    def release(self) -> None:
        release, self._release = self._release, None
        if release is not None:
            release()


class GalleryStore:
    """One connection to one gallery file, guarded by a lock so worker threads may share it."""

    def __init__(self, path: Path, connection: sqlite3.Connection, meta: GalleryMeta) -> None:
        self.path = path
        self._conn = connection
        self._meta = meta
        self._lock = threading.RLock()

    @classmethod
    def create(
        cls,
        path: Path,
        *,
        name: str,
        model: str,
        model_sha256: str,
        dim: int,
        metric: str = "l2",
        threshold: float | None = None,
        keep_images: bool = True,
    ) -> GalleryStore:
        """Create a new gallery file, atomically (see `gallery.creation`); GalleryExists if one is there.
        `keep_images` false: its references never keep their image or a thumbnail.

        Storage failures raise StorageFull / StorageError, and leave no file behind."""
        meta = _new_meta(name, model, model_sha256, dim, metric, threshold, keep_images)
        path = Path(path)
        if path.exists():
            raise GalleryExists(f"gallery {name!r} already exists")
        with storage_errors(f"creating gallery {name!r}"):
            write_new_store(path, meta)
        try:
            return cls.open(path)
        except BaseException:
            with suppress(OSError):  # never acknowledged: take the new file away again
                for file in database_files(path):
                    file.unlink(missing_ok=True)
            raise

    @classmethod
    def open(cls, path: Path) -> GalleryStore:
        """Open an existing gallery file, applying pending migrations; StoreCorrupt if it is not one."""
        path = Path(path)
        if not path.is_file():
            raise GalleryNotFound(f"no gallery file at {path}")
        with storage_errors(f"opening {path.name}"):
            if path.stat().st_size == 0:
                raise StoreCorrupt(
                    f"{path.name} is empty (0 bytes): damaged, or left by an unfinished create"
                )
            conn = connect(path)
        try:
            _check_is_gallery(conn, path)
            migrate(conn)
            return cls(path, conn, _read_meta(conn, path))
        except BaseException:
            conn.close()
            raise

    @property
    def meta(self) -> GalleryMeta:
        return self._meta

    def reload_meta(self) -> None:
        """Read the meta row again (after a model migration's switch rewrote it)."""
        with self._lock:
            self._meta = _read_meta(self._conn, self.path)

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """The connection, under the store's lock, for reads spanning several statements."""
        with self._lock:
            yield self._conn

    @contextmanager
    def atomic(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; joins the enclosing one when nested. A storage failure (disk full, I/O
        error) rolls it back and raises StorageFull / StorageError: nothing of it is kept."""
        with self._lock:
            if self._conn.in_transaction:
                yield self._conn
                return
            with storage_errors(f"writing gallery {self._meta.name!r}"), transaction(self._conn):
                yield self._conn

    def add(
        self,
        identity: str,
        embeddings: np.ndarray,
        image_sha256s: Sequence[str],
        metadata: dict[str, Any] | None = None,
    ) -> list[int]:
        """Store one identity's references in one transaction, durable on return; returns their new ids."""
        entry = Enrollment(identity, embeddings, tuple(image_sha256s), metadata)
        return self.add_many([entry])[0]

    def add_many(self, entries: Sequence[Enrollment]) -> list[list[int]]:
        """Store several identities' references in one transaction; ids per entry, in order."""
        prepared = [self._prepare(entry) for entry in entries]
        now = utc_now()
        with self.atomic() as conn:
            next_id = self._reserve_ids(conn, sum(len(blobs) for _, blobs, *_ in prepared))
            result = []
            for identity, blobs, shas, meta_json, kept in prepared:
                conn.execute(
                    "INSERT INTO identities (identity, metadata, created_at) VALUES (?, ?, ?) "
                    "ON CONFLICT (identity) DO UPDATE SET metadata = COALESCE(excluded.metadata, identities.metadata)",
                    (identity, meta_json, now),
                )
                ids = list(range(next_id, next_id + len(blobs)))
                conn.executemany(
                    'INSERT INTO "references" (id, identity, embedding, image_sha256, created_at) '
                    "VALUES (?, ?, ?, ?, ?)",
                    zip(ids, [identity] * len(ids), blobs, shas, [now] * len(ids), strict=True),
                )
                if kept is not None:
                    images.insert(conn, ids, kept)
                result.append(ids)
                next_id += len(ids)
        return result

    def delete_identity(self, identity: str) -> list[int]:
        """Delete an identity and all its references; returns the removed reference ids."""
        with self.atomic() as conn:
            if conn.execute("SELECT 1 FROM identities WHERE identity = ?", (identity,)).fetchone() is None:
                raise IdentityNotFound(f"identity {identity!r} not found")
            ids = [i for (i,) in conn.execute('SELECT id FROM "references" WHERE identity = ?', (identity,))]
            conn.execute('DELETE FROM "references" WHERE identity = ?', (identity,))
            conn.execute("DELETE FROM identities WHERE identity = ?", (identity,))
        return ids

    def delete_reference(self, reference_id: int) -> str:
        """Delete one reference (and its identity once it has none left); returns the identity."""
        if not 0 < int(reference_id) <= SQLITE_MAX_INT:  # no stored id lies outside 1..int64 max
            raise ReferenceNotFound(f"reference {reference_id} not found")
        with self.atomic() as conn:
            row = conn.execute(
                'SELECT identity FROM "references" WHERE id = ?', (int(reference_id),)
            ).fetchone()
            if row is None:
                raise ReferenceNotFound(f"reference {reference_id} not found")
            conn.execute('DELETE FROM "references" WHERE id = ?', (int(reference_id),))
            _drop_identity_if_empty(conn, row[0])
        return row[0]

    def set_threshold(self, value: float | None, *, source: str = "override") -> None:
        """Set (None: clear) the gallery's own threshold, recording how it was set (`THRESHOLD_SOURCES`)."""
        value = inputs.threshold(value)
        if source not in THRESHOLD_SOURCES:
            raise ValueError(f"threshold source must be one of {THRESHOLD_SOURCES}, got {source!r}")
        recorded = None if value is None else source
        with self.atomic() as conn:
            conn.execute(
                "UPDATE meta SET threshold = ?, threshold_source = ? WHERE id = 1", (value, recorded)
            )
            self._meta = dataclasses.replace(self._meta, threshold=value, threshold_source=recorded)

    def image(self, reference_id: int, *, thumbnail: bool = False) -> tuple[bytes, str] | None:
        """(bytes, content type) of a reference's kept image (or its thumbnail); None when none was kept,
        ReferenceNotFound when there is no such reference."""
        if not 0 < int(reference_id) <= SQLITE_MAX_INT:
            raise ReferenceNotFound(f"reference {reference_id} not found")
        with self.reading() as conn:
            found = images.fetch(conn, reference_id, thumbnail=thumbnail)
            if (
                found is None
                and self._one('SELECT 1 FROM "references" WHERE id = ?', (int(reference_id),)) is None
            ):
                raise ReferenceNotFound(f"reference {reference_id} not found")
        return found

    def has_identity(self, identity: str) -> bool:
        return self._one("SELECT 1 FROM identities WHERE identity = ?", (identity,)) is not None

    def counts(self) -> tuple[int, int]:
        """(identities, references)."""
        return self._one('SELECT (SELECT COUNT(*) FROM identities), (SELECT COUNT(*) FROM "references")')

    def reference_stats(self) -> tuple[int, int]:
        """(number of references, largest reference id present or 0): with never-reused ids these two
        change on every add or delete, so they identify the stored set for snapshot checks."""
        count, max_id = self._one('SELECT COUNT(*), MAX(id) FROM "references"')
        return int(count), int(max_id or 0)

    def last_reference_id(self) -> int:
        """The highest reference id ever handed out (deleted ones included): only a rollback lowers it."""
        with self.reading() as conn:
            return _last_reference_id(conn)

    def reserve_reference_ids(self, through: int) -> None:
        """Raise the id sequence to `through` (never lower it), so no id up to it is handed out again."""
        with self.atomic() as conn:
            if _last_reference_id(conn) >= through:
                return
            updated = conn.execute(
                "UPDATE sqlite_sequence SET seq = ? WHERE name = 'references'", (int(through),)
            ).rowcount
            if not updated:
                conn.execute(
                    "INSERT INTO sqlite_sequence (name, seq) VALUES ('references', ?)", (int(through),)
                )

    def list_identities(self, *, offset: int, limit: int) -> tuple[int, list[IdentitySummary]]:
        """One page of identities by name, with their reference counts; returns (total, page)."""
        if offset < 0 or limit < 1:
            raise ValueError(f"offset must be >= 0 and limit >= 1, got offset={offset} limit={limit}")
        offset, limit = min(offset, SQLITE_MAX_INT), min(limit, SQLITE_MAX_INT)  # past the end: empty page
        with self.reading() as conn:
            total = conn.execute("SELECT COUNT(*) FROM identities").fetchone()[0]
            rows = conn.execute(
                'SELECT i.identity, (SELECT COUNT(*) FROM "references" r WHERE r.identity = i.identity), '
                "i.metadata, i.created_at FROM identities i ORDER BY i.identity LIMIT ? OFFSET ?",
                (limit, offset),
            ).fetchall()
        page = [IdentitySummary(n, c, None if m is None else json.loads(m), t) for n, c, m, t in rows]
        return total, page

    def reference_identities(self, *, batch: int = 65536) -> list[tuple[np.ndarray, list[str]]]:
        """Every stored reference as (ids int64 (n,), identities) chunks, read from the identity index alone
        (not the table with its embeddings)."""
        chunks = []
        with self._lock:
            cursor = self._conn.execute(
                'SELECT id, identity FROM "references" INDEXED BY references_identity'
            )
            while rows := cursor.fetchmany(batch):
                ids = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
                chunks.append((ids, [row[1] for row in rows]))
        return chunks

    def iter_embeddings(
        self, *, batch: int = 65536, after_id: int = 0
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield (ids int64 (n,), matrix float32 (n, dim)) chunks in id order, for ids above `after_id`."""
        for rows in self._pages('SELECT id, embedding FROM "references"', batch, after_id=after_id):
            yield self._decode(rows)

    def _pages(self, select: str, batch: int, *, after_id: int = 0) -> Iterator[list[Any]]:
        """The rows of `select` (on the references, its first column their id) for ids above `after_id`, in id
        order, `batch` rows a statement (each statement short, however large the gallery)."""
        if batch < 1:
            raise ValueError("batch must be >= 1")
        last = int(after_id)
        while True:
            with self.reading() as conn:
                rows = conn.execute(f"{select} WHERE id > ? ORDER BY id LIMIT ?", (last, batch)).fetchall()
            if not rows:
                return
            yield rows
            last = int(rows[-1][0])

    def identity_embeddings(self, identity: str) -> tuple[np.ndarray, np.ndarray]:
        """(ids, matrix) of one identity's references; IdentityNotFound when it has none."""
        with self.reading() as conn:
            rows = conn.execute(
                'SELECT id, embedding FROM "references" WHERE identity = ? ORDER BY id', (identity,)
            ).fetchall()
        if not rows:
            raise IdentityNotFound(f"identity {identity!r} not found")
        return self._decode(rows)

    def load_embeddings(self, *, batch: int = 65536) -> tuple[np.ndarray, np.ndarray]:
        """Every stored reference as (ids (n,), matrix (n, dim)), filled chunk by chunk into one array."""
        count, _ = self.reference_stats()
        ids = np.empty(count, dtype=np.int64)
        matrix = np.empty((count, self._meta.dim), dtype=np.float32)
        filled = 0
        for chunk_ids, chunk in self.iter_embeddings(batch=batch):
            end = filled + len(chunk_ids)
            if end > count:
                raise GalleryError("references were added while the store was being read")
            ids[filled:end], matrix[filled:end] = chunk_ids, chunk
            filled = end
        return ids[:filled], matrix[:filled]

    def reference_ids(self) -> np.ndarray:
        """All stored reference ids, ascending (read from the identity index, not the blobs)."""
        with self._lock:
            rows = self._conn.execute('SELECT id FROM "references" INDEXED BY references_identity').fetchall()
        return np.sort(np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)))

    def references_by_id(
        self, ids: Sequence[int], *, batch: int = 500
    ) -> tuple[np.ndarray, list[str], np.ndarray]:
        """(ids, identities, matrix) of the stored references among `ids`, ascending (absent ones left out)."""
        wanted = sorted({int(i) for i in ids})
        rows: list[tuple[int, str, bytes]] = []
        with self.reading() as conn:
            for start in range(0, len(wanted), batch):
                part = wanted[start : start + batch]
                marks = ", ".join("?" * len(part))
                rows += conn.execute(
                    f'SELECT id, identity, embedding FROM "references" WHERE id IN ({marks}) ORDER BY id',
                    part,
                ).fetchall()
        if not rows:
            return np.empty(0, dtype=np.int64), [], np.empty((0, self._meta.dim), dtype=np.float32)
        found, matrix = self._decode([(row[0], row[2]) for row in rows])
        return found, [row[1] for row in rows], matrix

    def stored_model(self) -> tuple[str, int]:
        """(model sha256, dim) as the meta row holds them now (inside a write transaction: as it commits)."""
        sha256, dim = self._one("SELECT model_sha256, dim FROM meta WHERE id = 1")
        return str(sha256), int(dim)

    # The change log other writers of a shared store add to (gallery.changelog). A SQLite file has one writer,
    # this process, so it has none; gallery.postgres.PostgresStore has one.
    def log_head(self) -> int | None:
        """The newest seq of the store's change log; None for a store no one else writes."""
        return None

    def changes_since(self, after: int) -> Changes:
        """A page of the change log past `after`."""
        raise NotImplementedError(f"{self.label} has no change log")

    def pruned_through(self) -> int:
        """The last seq pruned from the change log (0: none)."""
        return 0

    def log_lag(self, after: int) -> Lag:
        """How far a cursor at `after` is behind the change log."""
        return NO_LAG

    def try_lease(self, purpose: str) -> Lease:
        """The lease on `purpose`'s work if no other process holds it (one process owns a SQLite file: its
        own tasks keep out of each other's way)."""
        return Lease(True)

    @contextmanager
    def consistent(self) -> Iterator[None]:
        """Several reads that see the store at one instant (here the lock: no one else writes the file)."""
        with self._lock:
            yield

    def applied_migrations(self) -> list[tuple[int, str]]:
        with self.reading() as conn:
            return conn.execute("SELECT version, name FROM migrations ORDER BY version").fetchall()

    def pragma(self, name: str) -> Any:
        if not name.isidentifier():
            raise ValueError(f"not a pragma name: {name!r}")
        return self._one(f"PRAGMA {name}")[0]

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        with self.reading() as conn:
            return conn.execute(sql, params).fetchone()

    def _reserve_ids(self, conn: sqlite3.Connection, count: int) -> int:
        """(inside the write transaction) The first of `count` new consecutive reference ids."""
        return _last_reference_id(conn) + 1

    @property
    def label(self) -> str:
        """Where the store lives, for messages: the file's name."""
        return self.path.name

    def _prepare(
        self, entry: Enrollment
    ) -> tuple[str, list[bytes], list[str], str | None, tuple[KeptImage, ...] | None]:
        identity = inputs.identity(entry.identity)
        matrix = inputs.matrix(entry.embeddings, dim=self._meta.dim).astype(EMBEDDING_DTYPE, copy=False)
        shas = inputs.sha256s(entry.image_sha256s, count=len(matrix))
        if entry.images is not None:
            if not self._meta.keep_images:
                raise ValueError(f"gallery {self._meta.name!r} keeps no images")
            if len(entry.images) != len(matrix):
                raise ValueError(f"need exactly one kept image per embedding ({len(matrix)})")
        blobs = [row.tobytes() for row in matrix]
        return identity, blobs, shas, inputs.metadata_json(entry.metadata), entry.images

    def _decode(self, rows: list[tuple[int, bytes]]) -> tuple[np.ndarray, np.ndarray]:
        row_bytes = self._meta.dim * EMBEDDING_DTYPE.itemsize
        ids, blobs = zip(*rows, strict=True)
        try:
            if set(map(len, blobs)) != {row_bytes}:
                raise ValueError(f"an embedding blob is not {row_bytes} bytes")
            joined = b"".join(blobs)
        except (TypeError, ValueError) as exc:
            raise StoreCorrupt(f"{self.label}: {exc}") from exc
        matrix = np.frombuffer(joined, dtype=EMBEDDING_DTYPE).reshape(len(rows), self._meta.dim)
        return np.asarray(ids, dtype=np.int64), matrix.astype(np.float32, copy=False)


def _new_meta(
    name: str,
    model: str,
    model_sha256: str,
    dim: int,
    metric: str,
    threshold: float | None,
    keep_images: bool,
) -> GalleryMeta:
    inputs.gallery_name(name)
    if not isinstance(dim, int) or isinstance(dim, bool) or dim < 1:
        raise ValueError(f"dim must be a positive integer, got {dim!r}")
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    if not model or not isinstance(model, str):
        raise ValueError("model must be a non-empty string")
    if not isinstance(model_sha256, str) or not inputs.SHA256_HEX.fullmatch(model_sha256):
        raise ValueError(f"model_sha256 must be 64 lowercase hex characters, got {model_sha256!r}")
    if not isinstance(keep_images, bool):
        raise ValueError(f"keep_images must be true or false, got {keep_images!r}")
    threshold = inputs.threshold(threshold)
    source = None if threshold is None else "override"
    return GalleryMeta(name, model, model_sha256, dim, metric, threshold, utc_now(), keep_images, source)


def _check_is_gallery(conn: sqlite3.Connection, path: Path) -> None:
    """StoreCorrupt unless the file holds a meta table with its one row (checked before any migration)."""
    try:
        tables = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone()
        rows = conn.execute("SELECT COUNT(*) FROM meta").fetchone()[0] if tables else 0
    except sqlite3.DatabaseError as exc:
        raise StoreCorrupt(f"{path.name} is not a readable SQLite database: {exc}") from exc
    if rows != 1:
        raise StoreCorrupt(f"{path.name} has no gallery meta row: damaged, or left by an unfinished create")


def _read_meta(conn: sqlite3.Connection, path: Path) -> GalleryMeta:
    row = conn.execute(
        "SELECT name, model, model_sha256, dim, metric, threshold, created_at, keep_images, threshold_source "
        "FROM meta WHERE id = 1"
    ).fetchone()
    if row is None:
        raise StoreCorrupt(f"{path.name} has no gallery meta row")
    return GalleryMeta(*row[:7], keep_images=bool(row[7]), threshold_source=row[8])


def _last_reference_id(conn: sqlite3.Connection) -> int:
    """The highest id ever handed out (AUTOINCREMENT's sequence), so new ids never reuse deleted ones."""
    seq = conn.execute("SELECT MAX(seq) FROM sqlite_sequence WHERE name = 'references'").fetchone()[0]
    top = conn.execute('SELECT MAX(id) FROM "references"').fetchone()[0]
    return max(int(seq or 0), int(top or 0))


def _drop_identity_if_empty(conn: sqlite3.Connection, identity: str) -> None:
    conn.execute(
        "DELETE FROM identities WHERE identity = ? "
        'AND NOT EXISTS (SELECT 1 FROM "references" WHERE identity = ?)',
        (identity, identity),
    )
