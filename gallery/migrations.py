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
    Migration(
        version=2,
        name="kept reference images and thumbnails; whether a gallery keeps them; how its threshold was set",
        statements=(
            # 1: new references keep their image (a gallery created with keep_images false keeps none)
            "ALTER TABLE meta ADD COLUMN keep_images INTEGER NOT NULL DEFAULT 1 CHECK (keep_images IN (0, 1))",
            # NULL: no threshold of its own; "override": set by hand; "calibrated": by POST .../calibrate
            "ALTER TABLE meta ADD COLUMN threshold_source TEXT "
            "CHECK (threshold_source IN ('override', 'calibrated'))",
            # a threshold stored before this version was given at creation or calibrated: no way to tell
            "UPDATE meta SET threshold_source = 'override' WHERE threshold IS NOT NULL",
            # apart from the references, so reading embeddings never pages through image bytes
            """CREATE TABLE reference_images (
                reference_id INTEGER PRIMARY KEY REFERENCES "references"(id) ON DELETE CASCADE,
                content_type TEXT NOT NULL,
                reencoded INTEGER NOT NULL CHECK (reencoded IN (0, 1)),
                width INTEGER NOT NULL,
                height INTEGER NOT NULL,
                data BLOB NOT NULL
            )""",
            """CREATE TABLE reference_thumbnails (
                reference_id INTEGER PRIMARY KEY REFERENCES "references"(id) ON DELETE CASCADE,
                content_type TEXT NOT NULL,
                data BLOB NOT NULL
            )""",
        ),
    ),
    Migration(
        version=3,
        name="model migrations: the last one, its staged embeddings and its failed references",
        statements=(
            """CREATE TABLE model_migration (
                id INTEGER PRIMARY KEY CHECK (id = 1),
                model TEXT NOT NULL,
                model_sha256 TEXT NOT NULL,
                dim INTEGER NOT NULL CHECK (dim > 0),
                from_model TEXT NOT NULL,
                from_sha256 TEXT NOT NULL,
                state TEXT NOT NULL
                    CHECK (state IN ('running', 'blocked', 'completed', 'cancelled', 'rolled_back')),
                drop_failed INTEGER NOT NULL CHECK (drop_failed IN (0, 1)),
                started_at TEXT NOT NULL,
                finished_at TEXT,
                message TEXT,
                done INTEGER,
                total INTEGER,
                dropped TEXT
            )""",
            # the new model's embeddings, beside the old ones until the switch copies them over
            """CREATE TABLE migration_embeddings (
                reference_id INTEGER PRIMARY KEY REFERENCES "references"(id) ON DELETE CASCADE,
                embedding BLOB NOT NULL
            )""",
            """CREATE TABLE migration_failures (
                reference_id INTEGER PRIMARY KEY REFERENCES "references"(id) ON DELETE CASCADE,
                code TEXT NOT NULL,
                message TEXT NOT NULL
            )""",
        ),
    ),
    Migration(
        version=4,
        name="the change log that replicas sharing a gallery follow",
        # PostgreSQL only (gallery.postgres.schema): one process owns a SQLite file, so nothing follows it;
        # the version is recorded all the same, so that a gallery's migrations read alike in either store
        statements=(),
    ),
    Migration(
        version=5,
        name="identities ordered by code point in either store",
        # PostgreSQL only: SQLite compares TEXT by code point (BINARY) already; a PostgreSQL column follows
        # the database's collation unless told, and en_US.utf8 would list "alice" before "Bob"
        statements=(),
    ),
)

MIGRATIONS_TABLE = """CREATE TABLE IF NOT EXISTS migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TEXT NOT NULL
)"""

LATEST_VERSION = MIGRATIONS[-1].version
