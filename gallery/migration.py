"""A model migration in a gallery's store: its record, the new model's embeddings staged beside the old
ones, the references that could not be re-embedded, and the switch, one transaction that copies the staged
embeddings over the old ones and records the new model. Until that commit the gallery is wholly on its old
model, whatever happens to the process; after it, wholly on the new one.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

import numpy as np

from gallery.config import IndexConfig
from gallery.errors import MigrationConflict, NoMigration, NotMigratable
from gallery.index import VectorIndex
from gallery.sqlite import utc_now
from gallery.store import EMBEDDING_DTYPE, GalleryStore

LOAD_BATCH = 65536
ACTIVE = ("running", "blocked")  # staged rows belong to the migration; other states have none
MAX_LISTED = 1000  # failures listed per answer (`failed` counts them all)


@dataclass(frozen=True)
class Failure:
    reference_id: int
    identity: str
    code: str  # "undecodable", "no_face", "no_image"
    message: str


@dataclass(frozen=True)
class MigrationState:
    """The gallery's last migration and its progress (live counts while it is active)."""

    model: str
    model_sha256: str
    dim: int
    from_model: str
    from_sha256: str
    state: str
    drop_failed: bool
    started_at: str
    finished_at: str | None
    message: str | None
    done: int
    failed: int
    total: int
    dropped: tuple[Failure, ...] = ()


COLUMNS = (
    "model, model_sha256, dim, from_model, from_sha256, state, drop_failed, started_at, finished_at, "
    "message, done, total, dropped"
)


def read(conn: sqlite3.Connection) -> MigrationState | None:
    """The last migration of the store, or None when it never had one."""
    row = conn.execute(f"SELECT {COLUMNS} FROM model_migration WHERE id = 1").fetchone()
    if row is None:
        return None
    *head, done, total, dropped = row
    if head[5] in ACTIVE:
        done = conn.execute("SELECT COUNT(*) FROM migration_embeddings").fetchone()[0]
        total = conn.execute('SELECT COUNT(*) FROM "references"').fetchone()[0]
    failed = conn.execute("SELECT COUNT(*) FROM migration_failures").fetchone()[0]
    dropped_rows = tuple(Failure(**f) for f in json.loads(dropped)) if dropped else ()
    return MigrationState(
        *head[:6],
        bool(head[6]),
        *head[7:],
        done=int(done or 0),
        failed=int(failed) if head[5] in ACTIVE else len(dropped_rows),
        total=int(total or 0),
        dropped=dropped_rows,
    )


def state(store: GalleryStore) -> MigrationState | None:
    with store.reading() as conn:
        return read(conn)


def failures(store: GalleryStore, *, limit: int = MAX_LISTED) -> list[Failure]:
    """The references the active migration could not re-embed, by id."""
    with store.reading() as conn:
        rows = conn.execute(
            'SELECT f.reference_id, r.identity, f.code, f.message FROM migration_failures f JOIN "references" r '
            "ON r.id = f.reference_id ORDER BY f.reference_id LIMIT ?",
            (limit,),
        ).fetchall()
    return [Failure(*row) for row in rows]


def begin(
    store: GalleryStore, *, model: str, model_sha256: str, dim: int, drop_failed: bool
) -> MigrationState:
    """Start (or resume, for the same model) a migration; its staged rows are kept when the model is the same.

    NotMigratable for a gallery that keeps no images; MigrationConflict while one to another model runs, or
    when the gallery is already embedded by this model."""
    meta = store.meta
    if not meta.keep_images:
        raise NotMigratable(f"gallery {meta.name!r} keeps no images: delete it and enroll again instead")
    with store.atomic() as conn:
        current = read(conn)
        same = current is not None and current.model_sha256 == model_sha256
        if current is not None and current.state == "running" and not same:
            raise MigrationConflict(
                f"gallery {meta.name!r} is migrating to model {current.model!r} sha256 {current.model_sha256}; "
                f"cancel it first (DELETE /galleries/{meta.name}/migration)"
            )
        if model_sha256 == meta.model_sha256:
            raise MigrationConflict(f"gallery {meta.name!r} is already embedded by sha256 {model_sha256}")
        if not (same and current is not None and current.state in ACTIVE):
            _clear_staged(conn)
            conn.execute("DELETE FROM model_migration")
            conn.execute(
                f"INSERT INTO model_migration (id, {COLUMNS}) VALUES (1, ?, ?, ?, ?, ?, 'running', ?, ?, "
                "NULL, NULL, NULL, NULL, NULL)",
                (model, model_sha256, dim, meta.model, meta.model_sha256, int(drop_failed), utc_now()),
            )
        else:
            conn.execute(
                "UPDATE model_migration SET state = 'running', drop_failed = ?, message = NULL WHERE id = 1",
                (int(drop_failed),),
            )
        return read(conn)  # type: ignore[return-value]


def pending(store: GalleryStore, *, after: int, limit: int) -> list[tuple[int, bytes | None]]:
    """Up to `limit` references above id `after` neither staged nor failed, with their kept image (or None)."""
    with store.reading() as conn:
        rows = conn.execute(
            'SELECT r.id, i.data FROM "references" r LEFT JOIN reference_images i ON i.reference_id = r.id '
            "WHERE r.id > ? AND NOT EXISTS (SELECT 1 FROM migration_embeddings m WHERE m.reference_id = r.id) "
            "AND NOT EXISTS (SELECT 1 FROM migration_failures f WHERE f.reference_id = r.id) "
            "ORDER BY r.id LIMIT ?",
            (int(after), int(limit)),
        ).fetchall()
    return [(int(i), None if data is None else bytes(data)) for i, data in rows]


def stage(
    store: GalleryStore,
    ids: list[int],
    embeddings: np.ndarray,
    failed: list[tuple[int, str, str]],
    *,
    model_sha256: str,
) -> None:
    """Record one step's new embeddings and failures in one transaction (rows of references deleted
    meanwhile are skipped); nothing when the migration is no longer the running one to `model_sha256`."""
    rows = (
        np.asarray(embeddings).reshape(len(ids), -1) if ids else ()
    )  # () : a step where nothing re-embedded
    blobs = [row.astype(EMBEDDING_DTYPE).tobytes() for row in rows]
    # standard SQL that SQLite and PostgreSQL both parse (the WHERE also settles SQLite's SELECT/ON ambiguity)
    exists = 'WHERE EXISTS (SELECT 1 FROM "references" WHERE id = ?)'
    with store.atomic() as conn:
        if not _running_to(conn, model_sha256):
            return
        conn.executemany(
            "INSERT INTO migration_embeddings (reference_id, embedding) SELECT ?, ? "
            f"{exists} ON CONFLICT (reference_id) DO UPDATE SET embedding = excluded.embedding",
            [(i, blob, i) for i, blob in zip(ids, blobs, strict=True)],
        )
        conn.executemany(
            "INSERT INTO migration_failures (reference_id, code, message) SELECT ?, ?, ? "
            f"{exists} ON CONFLICT (reference_id) DO UPDATE SET code = excluded.code, message = excluded.message",
            [(i, code, message, i) for i, code, message in failed],
        )


def finish(store: GalleryStore, *, state: str, message: str | None, model_sha256: str | None = None) -> None:
    """End the active migration without switching ("blocked" keeps what it staged; "cancelled" and
    "rolled_back" drop it). With `model_sha256`, only a migration to that model; NoMigration when none is active."""
    with store.atomic() as conn:
        current = read(conn)
        if current is None or current.state not in ACTIVE:
            raise NoMigration(f"gallery {store.meta.name!r} has no migration in progress")
        if model_sha256 is not None and current.model_sha256 != model_sha256:
            return
        if state != "blocked":
            conn.execute(
                "UPDATE model_migration SET done = ?, total = ? WHERE id = 1", (current.done, current.total)
            )
            _clear_staged(conn)
        conn.execute(
            "UPDATE model_migration SET state = ?, message = ?, finished_at = ? WHERE id = 1",
            (state, message, None if state == "blocked" else utc_now()),
        )


def switch(conn: sqlite3.Connection) -> list[Failure] | None:
    """(inside the caller's transaction) Copy the staged embeddings over the old ones, drop the failed
    references (a migration asked to), and record the new model, its dimension and a cleared threshold.
    None, changing nothing, while a reference is neither staged nor failed; returns the dropped ones."""
    current = read(conn)
    if current is None or current.state != "running":
        raise NoMigration("no migration is running")
    if conn.execute(
        'SELECT 1 FROM "references" r WHERE NOT EXISTS (SELECT 1 FROM migration_embeddings m '
        "WHERE m.reference_id = r.id) AND NOT EXISTS (SELECT 1 FROM migration_failures f "
        "WHERE f.reference_id = r.id) LIMIT 1"
    ).fetchone():
        return None
    dropped = [
        Failure(*row)
        for row in conn.execute(
            'SELECT f.reference_id, r.identity, f.code, f.message FROM migration_failures f JOIN "references" r '
            "ON r.id = f.reference_id ORDER BY f.reference_id"
        )
    ]
    if dropped and not current.drop_failed:
        raise MigrationConflict(f"{len(dropped)} references could not be re-embedded")
    conn.execute(
        'UPDATE "references" SET embedding = m.embedding FROM migration_embeddings m '
        'WHERE m.reference_id = "references".id'
    )
    conn.execute('DELETE FROM "references" WHERE id IN (SELECT reference_id FROM migration_failures)')
    conn.execute(
        'DELETE FROM identities WHERE NOT EXISTS (SELECT 1 FROM "references" r WHERE r.identity = identities.identity)'
    )
    conn.execute(
        "UPDATE meta SET model = ?, model_sha256 = ?, dim = ?, threshold = NULL, threshold_source = NULL "
        "WHERE id = 1",
        (current.model, current.model_sha256, current.dim),
    )
    record: list[dict[str, Any]] = [f.__dict__ for f in dropped]
    conn.execute(
        "UPDATE model_migration SET state = 'completed', finished_at = ?, done = ?, total = ?, dropped = ? "
        "WHERE id = 1",
        (utc_now(), current.done, current.total, json.dumps(record)),
    )
    _clear_staged(conn)
    return dropped


def staged_index(store: GalleryStore, *, config: IndexConfig) -> VectorIndex:
    """A new index over the running migration's staged embeddings, of the kind `config` wants for them,
    read chunk by chunk (the store's lock is taken per chunk, not for the whole build)."""
    current = state(store)
    if current is None or current.state != "running":
        raise NoMigration(f"gallery {store.meta.name!r} has no migration running")
    index = VectorIndex(current.dim, config=config, kind=config.kind_for(current.done))
    last = 0
    while True:
        with store.reading() as conn:
            rows = conn.execute(
                "SELECT reference_id, embedding FROM migration_embeddings WHERE reference_id > ? "
                "ORDER BY reference_id LIMIT ?",
                (last, LOAD_BATCH),
            ).fetchall()
        if not rows:
            return index
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        vectors = np.frombuffer(b"".join(r[1] for r in rows), dtype=EMBEDDING_DTYPE).reshape(len(rows), -1)
        index.add(vectors.astype(np.float32), ids)
        last = int(ids[-1])


def _running_to(conn: sqlite3.Connection, model_sha256: str) -> bool:
    row = conn.execute("SELECT state, model_sha256 FROM model_migration WHERE id = 1").fetchone()
    return row is not None and row[0] == "running" and row[1] == model_sha256


def _clear_staged(conn: sqlite3.Connection) -> None:
    conn.execute("DELETE FROM migration_embeddings")
    conn.execute("DELETE FROM migration_failures")
