"""PostgresStore: one gallery in its own PostgreSQL schema, behind the interface of the SQLite GalleryStore.

The dialect-neutral reads and writes are GalleryStore's own (`?` SQL through `QmarkConnection`); what differs
is here: creating and opening through the catalog, reference ids from a sequence (unique across replicas),
transactions, reconnecting after a lost connection, and PostgreSQL's failures named as storage errors.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from gallery.changelog import Changes, Lag
from gallery.errors import GalleryExists, GalleryNotFound, StoreCorrupt
from gallery.postgres import changes
from gallery.postgres.connection import (
    WRITE_DEADLINE_S,
    Pool,
    QmarkConnection,
    connect,
    pg_errors,
    session,
    transaction,
    writing,
)
from gallery.postgres.schema import (
    CATALOG,
    CATALOG_LOCK,
    CATALOG_VERSION,
    LATEST_VERSION,
    MIGRATIONS,
    MIGRATIONS_TABLE,
    schema_name,
)
from gallery.sqlite import utc_now
from gallery.store import GalleryStore, Lease, _new_meta
from gallery.types import GalleryMeta

META_COLUMNS = "name, model, model_sha256, dim, metric, threshold, created_at, keep_images, threshold_source"


class PostgresStore(GalleryStore):
    """One gallery's schema, under the store's lock: each outermost read, write or consistent read borrows a
    connection from the pool (the service's, shared by its galleries; or one of its own) for its duration,
    and blocks nested in it use the same one."""

    def __init__(self, url: str, schema: str, pool: Pool, meta: GalleryMeta, *, owns_pool: bool) -> None:
        self.url = url
        self.schema = schema
        self.path = Path(schema)  # no file: the schema's name stands where GalleryStore keeps its path
        self._pool = pool
        self._owns_pool = owns_pool
        self._held: QmarkConnection | None = None  # the borrowed connection, while a block runs
        self._meta = meta
        self._lock = threading.RLock()

    @classmethod
    def create(  # type: ignore[override]
        cls,
        url: str,
        *,
        name: str,
        model: str,
        model_sha256: str,
        dim: int,
        metric: str = "l2",
        threshold: float | None = None,
        keep_images: bool = True,
        pool: Pool | None = None,
    ) -> PostgresStore:
        """Create a gallery: its catalog row, its schema, every migration and its meta row in one transaction
        (a failure leaves nothing); GalleryExists if the catalog holds the name."""
        meta = _new_meta(name, model, model_sha256, dim, metric, threshold, keep_images)
        seconds = WRITE_DEADLINE_S if pool is None else pool.write_deadline_s
        with writing(pool or url, where=f"creating gallery {name!r}", seconds=seconds) as conn:
            ensure_catalog(conn)
            if conn.execute("SELECT 1 FROM sg_galleries WHERE name = ?", (name,)).fetchone():
                raise GalleryExists(f"gallery {name!r} already exists")
            serial = "SELECT nextval(pg_get_serial_sequence('sg_galleries', 'id'))"
            gallery_id = int(conn.execute(serial).fetchone()[0])
            schema = schema_name(gallery_id)
            conn.execute(
                "INSERT INTO sg_galleries (id, name, schema_name, created_at) VALUES (?, ?, ?, ?)",
                (gallery_id, name, schema, meta.created_at),
            )
            conn.execute(f'CREATE SCHEMA "{schema}"')
            conn.execute(f'SET LOCAL search_path TO "{schema}"')
            create_schema(conn)
            row = dataclasses.asdict(meta) | {"keep_images": int(meta.keep_images)}
            columns, marks = ", ".join(row), ", ".join("?" * len(row))
            conn.execute(f"INSERT INTO meta (id, {columns}) VALUES (1, {marks})", tuple(row.values()))
        return cls.open(url, name, pool=pool)

    @classmethod
    def open(cls, url: str, name: str, *, pool: Pool | None = None) -> PostgresStore:  # type: ignore[override]
        """Open the catalog's gallery `name`, applying pending migrations; GalleryNotFound if none. Without
        `pool`, the store keeps a pool of one connection of its own."""
        schema = catalog_schema(pool or url, name)
        if schema is None:
            raise GalleryNotFound(f"gallery {name!r} not found")
        own = pool is None
        pool = Pool(url, max_size=1) if pool is None else pool
        try:
            with pg_errors(f"opening gallery {name!r}"), pool.connection(search_path=schema) as conn:
                newest = _newest_version(conn)
                if newest != LATEST_VERSION:  # migrations pending (or a schema newer than this code: refused)
                    with pool.write_deadline(conn, where=f"migrating gallery {name!r}"):
                        if newest < LATEST_VERSION:  # what a migration may need: the catalog's own
                            with transaction(conn):
                                ensure_catalog(conn)
                        migrate(conn, schema)
                if conn.execute("SELECT to_regclass('meta')").fetchone()[0] is None:
                    raise StoreCorrupt(f"PostgreSQL schema {schema} has no gallery meta table")
                meta = _read_meta(conn, schema)
            return cls(url, schema, pool, meta, owns_pool=own)
        except BaseException:
            if own:
                pool.close()
            raise

    @property
    def label(self) -> str:
        return f"PostgreSQL schema {self.schema}"

    def reload_meta(self) -> None:
        with self.reading() as conn:
            self._meta = _read_meta(conn, self.schema)

    @contextmanager
    def reading(self) -> Iterator[QmarkConnection]:  # type: ignore[override]
        """A connection for reads, under the store's lock; failures named."""
        with self._lock, pg_errors(f"reading gallery {self._meta.name!r}"), self._borrowed() as conn:
            yield conn

    @contextmanager
    def atomic(self) -> Iterator[QmarkConnection]:  # type: ignore[override]
        """One write transaction, committed on the server before it returns; joins the enclosing one."""
        where = f"writing gallery {self._meta.name!r}"
        with self._lock:
            if self._held is not None and self._held.in_transaction:
                # joined: inside a write, or inside a read (`consistent`) whose statements are bounded one by
                # one; either way what it writes is bounded as a write, as a whole
                with self._pool.write_deadline(self._held, where=where):
                    yield self._held
                return
            with (
                pg_errors(where),
                self._borrowed() as conn,
                self._pool.write_deadline(conn, where=where),
                transaction(conn),
            ):
                # every write to the gallery, from any replica, holds its lock to the commit: what a write
                # reads first (is every reference staged? which model?) no other replica changes under it
                lock_gallery(conn, self.schema)
                yield conn

    @contextmanager
    def consistent(self) -> Iterator[None]:  # type: ignore[override]
        """Several reads that see the store at one instant: one REPEATABLE READ transaction (joined when one
        is open: a write transaction holds the gallery's lock, so nothing else commits to it meanwhile)."""
        with self._lock:
            if self._held is not None and self._held.in_transaction:
                yield
                return
            with (
                pg_errors(f"reading gallery {self._meta.name!r}"),
                self._borrowed() as conn,
                transaction(conn, isolation="REPEATABLE READ"),
            ):
                yield

    def try_lease(self, purpose: str) -> Lease:
        """A session-level advisory lock on (gallery, purpose), on a connection of its own: held until
        `release` closes it, or until the holder's connection dies with its process."""
        conn = connect(self.url, statement_deadline_s=self._pool.read_deadline_s)
        try:
            with pg_errors(f"leasing {purpose} of gallery {self._meta.name!r}"):
                key = f"{self.schema}:{purpose}"
                held = bool(conn.execute("SELECT pg_try_advisory_lock(hashtext(?))", (key,)).fetchone()[0])
        except BaseException:
            conn.close()
            raise
        if not held:
            conn.close()
            return Lease(False)
        return Lease(True, conn.close)

    def log_head(self) -> int:  # type: ignore[override]
        with self.reading() as conn:
            return changes.head(conn, self.schema)

    def changes_since(self, after: int) -> Changes:
        with self.reading() as conn:
            return changes.since(conn, self.schema, after)

    def pruned_through(self) -> int:
        with self.reading() as conn:
            return changes.pruned_through(conn, self.schema)

    def log_lag(self, after: int) -> Lag:
        with self.reading() as conn:
            return changes.lag(conn, self.schema, after)

    def reference_identities(self, *, batch: int = 65536) -> list[tuple[np.ndarray, list[str]]]:
        """Read a page of `batch` references a statement, in id order, so that each statement fits the read
        deadline however large the gallery (the pages show one instant of the store inside `consistent`)."""
        chunks = []
        for rows in self._pages('SELECT id, identity FROM "references"', batch):
            ids = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
            chunks.append((ids, [row[1] for row in rows]))
        return chunks

    def reference_ids(self, *, batch: int = 65536) -> np.ndarray:
        pages = [
            np.fromiter((r[0] for r in rows), np.int64, len(rows))
            for rows in self._pages('SELECT id FROM "references"', batch)
        ]
        return np.concatenate(pages) if pages else np.empty(0, dtype=np.int64)

    def last_reference_id(self) -> int:
        """The highest reference id ever handed out (deleted ones included)."""
        with self.reading() as conn:
            return _last_reference_id(conn)

    def reserve_reference_ids(self, through: int) -> None:
        """Raise the id sequence to `through` (never lower it), so no id up to it is handed out again."""
        with self.atomic() as conn:
            # again here: an atomic() joined into an enclosing read (a gallery opening) took no lock
            lock_gallery(conn, self.schema)
            if _last_reference_id(conn) < int(through):
                conn.execute("SELECT setval('reference_ids', ?)", (int(through),))

    def pragma(self, name: str) -> Any:
        raise ValueError(f"a PostgreSQL store has no SQLite pragma {name!r}")

    def close(self) -> None:
        with self._lock:
            if self._owns_pool:
                self._pool.close()

    def _reserve_ids(self, conn: Any, count: int) -> int:
        """`count` consecutive ids from the gallery's sequence, under the gallery's lock (taken by `atomic`)
        so that two replicas adding at once never interleave their ranges."""
        last = conn.execute("SELECT nextval('reference_ids')").fetchone()[0]
        if count > 1:
            conn.execute("SELECT setval('reference_ids', ?)", (int(last) + count - 1,))
        return int(last)

    @contextmanager
    def _borrowed(self) -> Iterator[QmarkConnection]:
        """(under the lock) The connection of the enclosing block, else one borrowed from the pool until
        this block ends."""
        if self._held is not None:
            yield self._held
            return
        with self._pool.connection(search_path=self.schema) as conn:
            self._held = conn
            try:
                yield conn
            finally:
                self._held = None


def lock_gallery(conn: QmarkConnection, schema: str) -> None:
    """(inside the caller's transaction) The gallery's lock until the commit: the very key the change log's
    triggers take (`hashtext` of the schema's name), so that writes to one gallery from any replica queue."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtext(?))", (schema,))


def ensure_catalog(conn: QmarkConnection) -> None:
    """(inside the caller's transaction) The catalog's lock until the commit, and the catalog's tables,
    triggers and functions, created or brought up to CATALOG_VERSION when the database's are older (never
    taken back to an older one)."""
    conn.execute("SELECT pg_advisory_xact_lock(?)", (CATALOG_LOCK,))
    if catalog_version(conn) >= CATALOG_VERSION:
        return
    for statement in CATALOG:
        conn.execute(statement)
    conn.execute(
        "INSERT INTO public.sg_catalog (id, version) VALUES (1, ?) ON CONFLICT (id) DO UPDATE "
        "SET version = GREATEST(sg_catalog.version, excluded.version)",
        (CATALOG_VERSION,),
    )


def catalog_version(conn: QmarkConnection) -> int:
    """The version of the catalog the database holds (0: none, or one from before versions were kept)."""
    if conn.execute("SELECT to_regclass('public.sg_catalog')").fetchone()[0] is None:
        return 0
    row = conn.execute("SELECT version FROM public.sg_catalog WHERE id = 1").fetchone()
    return 0 if row is None else int(row[0])


def catalog_schema(source: str | Pool, name: str) -> str | None:
    """The schema of gallery `name`, or None when the catalog has no such gallery (or no catalog yet)."""
    return dict(catalog(source)).get(name)


def catalog(source: str | Pool) -> list[tuple[str, str]]:
    """Every gallery in the catalog as (name, schema), by name (`source`: a pool, or a URL)."""
    with pg_errors("reading the gallery catalog"), session(source) as conn:
        if conn.execute("SELECT to_regclass('public.sg_galleries')").fetchone()[0] is None:
            return []
        return conn.execute("SELECT name, schema_name FROM public.sg_galleries ORDER BY name").fetchall()


def create_schema(conn: QmarkConnection) -> None:
    """(inside the caller's transaction) Apply and record every migration: a new gallery's whole schema."""
    conn.execute(MIGRATIONS_TABLE)
    for migration in MIGRATIONS:
        _apply(conn, migration.version, migration.name, migration.statements)


def migrate(conn: QmarkConnection, schema: str) -> None:
    """Apply each pending migration in its own transaction, recorded in that same transaction, under the
    gallery's lock (replicas opening it at once apply each migration once)."""
    for migration in MIGRATIONS:
        with transaction(conn):
            lock_gallery(conn, schema)
            if conn.execute("SELECT to_regclass('meta')").fetchone()[0] is None:
                raise StoreCorrupt(f"PostgreSQL schema {schema} has no gallery meta table")
            conn.execute(MIGRATIONS_TABLE)
            newest = conn.execute("SELECT MAX(version) FROM migrations").fetchone()[0]
            if newest is not None and newest > LATEST_VERSION:
                raise StoreCorrupt(
                    f"schema version {newest} is newer than this code knows ({LATEST_VERSION})"
                )
            if conn.execute("SELECT 1 FROM migrations WHERE version = ?", (migration.version,)).fetchone():
                continue
            _apply(conn, migration.version, migration.name, migration.statements)


def _apply(conn: QmarkConnection, version: int, name: str, statements: tuple[str, ...]) -> None:
    for statement in statements:
        conn.execute(statement)
    conn.execute(
        "INSERT INTO migrations (version, name, applied_at) VALUES (?, ?, ?)", (version, name, utc_now())
    )


def _newest_version(conn: QmarkConnection) -> int:
    """The newest migration the gallery's schema records (0 before its migrations table exists)."""
    if conn.execute("SELECT to_regclass('migrations')").fetchone()[0] is None:
        return 0
    return int(conn.execute("SELECT COALESCE(MAX(version), 0) FROM migrations").fetchone()[0])


def _read_meta(conn: QmarkConnection, schema: str) -> GalleryMeta:
    row = conn.execute(f"SELECT {META_COLUMNS} FROM meta WHERE id = 1").fetchone()
    if row is None:
        raise StoreCorrupt(f"PostgreSQL schema {schema} has no gallery meta row")
    return GalleryMeta(*row[:7], keep_images=bool(row[7]), threshold_source=row[8])


def _last_reference_id(conn: QmarkConnection) -> int:
    last, called = conn.execute("SELECT last_value, is_called FROM reference_ids").fetchone()
    return int(last) if called else 0
