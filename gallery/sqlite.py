"""SQLite plumbing for gallery stores: connection pragmas, transactions, and recorded migrations."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path

from gallery.errors import GalleryError, StorageError, StorageFull, StoreCorrupt
from gallery.migrations import LATEST_VERSION, MIGRATIONS, MIGRATIONS_TABLE, Migration
from gallery.storage import classify

MMAP_BYTES = 1 << 30  # memory-map reads: bulk-loading embeddings copies less


def utc_now() -> str:
    """An ISO 8601 UTC timestamp with microseconds, as stored in created_at columns."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def database_files(path: Path) -> list[Path]:
    """The database file and the WAL/SHM files SQLite keeps beside it."""
    return [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]


def connect(path: Path) -> sqlite3.Connection:
    """One autocommit connection (transactions are explicit) in WAL mode with synchronous=FULL."""
    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10.0)
    try:
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute(f"PRAGMA mmap_size={MMAP_BYTES}")
    except sqlite3.DatabaseError as exc:
        conn.close()
        named = classify(exc, where=path.name)
        if isinstance(named, StorageFull | StorageError):  # the disk failed, not the file
            raise named from exc
        raise StoreCorrupt(f"{path.name} is not a readable SQLite database: {exc}") from exc
    if str(mode).lower() != "wal":
        conn.close()
        raise GalleryError(f"{path.name}: SQLite refused WAL journaling here (got {mode!r})")
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any exception (including a failed COMMIT)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        with suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise


def migrate(conn: sqlite3.Connection) -> None:
    """Apply each pending migration in its own transaction, recording it in that same transaction."""
    try:
        for migration in MIGRATIONS:
            with transaction(conn):
                conn.execute(MIGRATIONS_TABLE)
                _check_known_versions(conn)
                if conn.execute(
                    "SELECT 1 FROM migrations WHERE version = ?", (migration.version,)
                ).fetchone():
                    continue
                _apply(conn, migration)
    except sqlite3.DatabaseError as exc:
        raise StoreCorrupt(f"cannot migrate the gallery schema: {exc}") from exc


def create_schema(conn: sqlite3.Connection) -> None:
    """Apply and record every migration inside the caller's transaction: a new file's whole schema at once."""
    conn.execute(MIGRATIONS_TABLE)
    for migration in MIGRATIONS:
        _apply(conn, migration)


def _check_known_versions(conn: sqlite3.Connection) -> None:
    newest = conn.execute("SELECT MAX(version) FROM migrations").fetchone()[0]
    if newest is not None and newest > LATEST_VERSION:
        raise StoreCorrupt(f"schema version {newest} is newer than this code knows ({LATEST_VERSION})")


def _apply(conn: sqlite3.Connection, migration: Migration) -> None:
    for statement in migration.statements:
        conn.execute(statement)
    conn.execute(
        "INSERT INTO migrations (version, name, applied_at) VALUES (?, ?, ?)",
        (migration.version, migration.name, utc_now()),
    )
    conn.execute(f"PRAGMA user_version = {int(migration.version)}")
