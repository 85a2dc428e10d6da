"""The store schema as ordered migrations; each is applied and recorded in one transaction."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        version=1,
        name="initial schema: meta, identities, references",
        statements=(
            """CREATE TABLE meta (
                id INTEGER PRIMARY KEY CHECK (id = 1),
                name TEXT NOT NULL,
                model TEXT NOT NULL,
                model_sha256 TEXT NOT NULL,
                dim INTEGER NOT NULL CHECK (dim > 0),
                metric TEXT NOT NULL,
                threshold REAL,
                created_at TEXT NOT NULL
            )""",
            """CREATE TABLE identities (
                identity TEXT PRIMARY KEY NOT NULL,
                metadata TEXT,
                created_at TEXT NOT NULL
            )""",
            """CREATE TABLE "references" (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                identity TEXT NOT NULL REFERENCES identities(identity) ON DELETE CASCADE,
                embedding BLOB NOT NULL,
                image_sha256 TEXT NOT NULL,
                created_at TEXT NOT NULL
            )""",
            'CREATE INDEX references_identity ON "references"(identity)',
        ),
    ),
)

MIGRATIONS_TABLE = """CREATE TABLE IF NOT EXISTS migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TEXT NOT NULL
)"""

LATEST_VERSION = MIGRATIONS[-1].version
