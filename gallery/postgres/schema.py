"""The PostgreSQL schema: a catalog of galleries in the public schema, and in each gallery's own schema the
tables of `gallery.migrations`, in PostgreSQL's dialect, under the same versions and names (so that a gallery
records the same migrations in either store)."""

from __future__ import annotations

from gallery.migrations import MIGRATIONS as SQLITE_MIGRATIONS
from gallery.migrations import Migration

CATALOG_LOCK = 0x5347_0001  # pg_advisory_xact_lock key: catalog DDL, gallery creates and deletes
# pg_advisory_xact_lock key of the change log's deletes: a prune takes it alone, a gallery's delete shared, so
# that their deletes of the same rows never meet in opposite orders (a deadlock PostgreSQL would break by
# failing one of them) and two prunes never meet at all
LOG_LOCK = 0x5347_0002
SCHEMA_PREFIX = "g_"

CHANNEL = "sg_changes"  # NOTIFY channel: the payload is a gallery's schema, or CATALOG_PAYLOAD
CATALOG_PAYLOAD = "catalog"  # a gallery was created or deleted


def _log_function(name: str, rows: str) -> str:
    """A statement trigger's function: under the gallery's lock, `rows` (schema, op, reference id) into the
    change log, then a notification naming the gallery's schema (sent at commit, once per transaction)."""
    return f"""CREATE OR REPLACE FUNCTION public.{name}() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_advisory_xact_lock(hashtext(TG_TABLE_SCHEMA));
        INSERT INTO public.sg_changes (schema_name, op, reference_id) {rows};
        PERFORM pg_notify('{CHANNEL}', TG_TABLE_SCHEMA);
        RETURN NULL;
    END $$"""


# The catalog's DDL runs only while the database's `sg_catalog.version` is under this (and then records it):
# raise it with any change to CATALOG. Run on every create and delete, `CREATE INDEX IF NOT EXISTS` would take
# a share lock on the change log that waits for, and blocks, every write to every gallery.
CATALOG_VERSION = 1

# Every name is qualified with `public`: a connection whose search_path starts at a gallery's schema may run it.
CATALOG = (
    "CREATE TABLE IF NOT EXISTS public.sg_catalog (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL)",
    """CREATE TABLE IF NOT EXISTS public.sg_galleries (
        id BIGSERIAL PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        schema_name TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL
    )""",
    # one row, rewritten by storage probes: a write that changes nothing anyone reads
    "CREATE TABLE IF NOT EXISTS public.sg_probe (id INTEGER PRIMARY KEY CHECK (id = 1), at TEXT NOT NULL)",
    # The change log replicas follow (gallery.postgres.changes): one row per reference added or deleted and
    # per meta update, written by the triggers below in the writing transaction. Each trigger takes the
    # gallery's transaction-scoped lock before its rows draw their numbers, so within one gallery `seq`
    # order is commit order: a reader that has seen seq n of a gallery will never see a smaller one appear.
    """CREATE TABLE IF NOT EXISTS public.sg_changes (
        seq BIGSERIAL PRIMARY KEY,
        schema_name TEXT NOT NULL,
        op TEXT NOT NULL CHECK (op IN ('add', 'delete', 'meta')),
        reference_id BIGINT,
        at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
    )""",
    "CREATE INDEX IF NOT EXISTS sg_changes_schema_seq ON public.sg_changes (schema_name, seq)",
    "CREATE INDEX IF NOT EXISTS sg_changes_at ON public.sg_changes (at)",
    # per gallery, the last seq pruned from the log: a replica that has applied less must reload the gallery
    """CREATE TABLE IF NOT EXISTS public.sg_changes_pruned (
        schema_name TEXT PRIMARY KEY,
        through BIGINT NOT NULL
    )""",
    _log_function("sg_log_added", "SELECT TG_TABLE_SCHEMA, 'add', id FROM added ORDER BY id"),
    _log_function("sg_log_deleted", "SELECT TG_TABLE_SCHEMA, 'delete', id FROM deleted ORDER BY id"),
    _log_function("sg_log_meta", "VALUES (TG_TABLE_SCHEMA, 'meta', NULL)"),
    f"""CREATE OR REPLACE FUNCTION public.sg_catalog_changed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_notify('{CHANNEL}', '{CATALOG_PAYLOAD}');
        RETURN NULL;
    END $$""",
    """CREATE OR REPLACE TRIGGER sg_galleries_changed AFTER INSERT OR DELETE ON public.sg_galleries
        FOR EACH STATEMENT EXECUTE FUNCTION public.sg_catalog_changed()""",
)

_STATEMENTS: dict[int, tuple[str, ...]] = {
    1: (
        """CREATE TABLE meta (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            name TEXT NOT NULL,
            model TEXT NOT NULL,
            model_sha256 TEXT NOT NULL,
            dim INTEGER NOT NULL CHECK (dim > 0),
            metric TEXT NOT NULL,
            threshold DOUBLE PRECISION,
            created_at TEXT NOT NULL
        )""",
        """CREATE TABLE identities (
            identity TEXT PRIMARY KEY NOT NULL,
            metadata TEXT,
            created_at TEXT NOT NULL
        )""",
        # ids come from a sequence: never reused, and unique across replicas writing at once
        "CREATE SEQUENCE reference_ids AS BIGINT",
        """CREATE TABLE "references" (
            id BIGINT PRIMARY KEY,
            identity TEXT NOT NULL REFERENCES identities(identity) ON DELETE CASCADE,
            embedding BYTEA NOT NULL,
            image_sha256 TEXT NOT NULL,
            created_at TEXT NOT NULL
        )""",
        # (identity, id) covers the id -> identity scans that rebuild an index's labels
        'CREATE INDEX references_identity ON "references"(identity, id)',
    ),
    2: (
        "ALTER TABLE meta ADD COLUMN keep_images INTEGER NOT NULL DEFAULT 1 CHECK (keep_images IN (0, 1))",
        "ALTER TABLE meta ADD COLUMN threshold_source TEXT "
        "CHECK (threshold_source IN ('override', 'calibrated'))",
        "UPDATE meta SET threshold_source = 'override' WHERE threshold IS NOT NULL",
        """CREATE TABLE reference_images (
            reference_id BIGINT PRIMARY KEY REFERENCES "references"(id) ON DELETE CASCADE,
            content_type TEXT NOT NULL,
            reencoded INTEGER NOT NULL CHECK (reencoded IN (0, 1)),
            width INTEGER NOT NULL,
            height INTEGER NOT NULL,
            data BYTEA NOT NULL
        )""",
        """CREATE TABLE reference_thumbnails (
            reference_id BIGINT PRIMARY KEY REFERENCES "references"(id) ON DELETE CASCADE,
            content_type TEXT NOT NULL,
            data BYTEA NOT NULL
        )""",
    ),
    3: (
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
            done BIGINT,
            total BIGINT,
            dropped TEXT
        )""",
        """CREATE TABLE migration_embeddings (
            reference_id BIGINT PRIMARY KEY REFERENCES "references"(id) ON DELETE CASCADE,
            embedding BYTEA NOT NULL
        )""",
        """CREATE TABLE migration_failures (
            reference_id BIGINT PRIMARY KEY REFERENCES "references"(id) ON DELETE CASCADE,
            code TEXT NOT NULL,
            message TEXT NOT NULL
        )""",
    ),
    4: (
        """CREATE TRIGGER references_added AFTER INSERT ON "references" REFERENCING NEW TABLE AS added
            FOR EACH STATEMENT EXECUTE FUNCTION public.sg_log_added()""",
        """CREATE TRIGGER references_deleted AFTER DELETE ON "references" REFERENCING OLD TABLE AS deleted
            FOR EACH STATEMENT EXECUTE FUNCTION public.sg_log_deleted()""",
        # a model switch rewrites embeddings and meta in one transaction: the meta change tells replicas; only
        # the columns anyone reads back count (a storage probe's `SET id = id` logs nothing)
        """CREATE TRIGGER meta_changed AFTER UPDATE OF model, model_sha256, dim, threshold, threshold_source
            ON meta FOR EACH STATEMENT EXECUTE FUNCTION public.sg_log_meta()""",
    ),
    5: (
        'ALTER TABLE "references" ALTER COLUMN identity TYPE TEXT COLLATE "C"',
        'ALTER TABLE identities ALTER COLUMN identity TYPE TEXT COLLATE "C"',
    ),
}

MIGRATIONS: tuple[Migration, ...] = tuple(
    Migration(m.version, m.name, _STATEMENTS[m.version]) for m in SQLITE_MIGRATIONS
)
MIGRATIONS_TABLE = """CREATE TABLE IF NOT EXISTS migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TEXT NOT NULL
)"""
LATEST_VERSION = MIGRATIONS[-1].version


def schema_name(gallery_id: int) -> str:
    """The schema of the catalog's gallery `gallery_id` (a new one per create: a re-created name starts clean)."""
    return f"{SCHEMA_PREFIX}{int(gallery_id)}"
