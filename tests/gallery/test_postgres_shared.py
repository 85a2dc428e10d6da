"""Two services sharing one PostgreSQL database: a gallery one of them deleted answers the other's reads as
gallery_not_found, not as an unnamed database error; identities sort alike whatever the database's collation;
the catalog's DDL runs once per catalog version (a real PostgreSQL server; skipped, saying why, without)."""

from __future__ import annotations

import pytest

from gallery.errors import GalleryNotFound


def test_gallery_deleted_by_another_service_reads_as_gallery_not_found(postgres_url, unit_vectors, shas, dim):
    from gallery.postgres import PostgresStore
    from gallery.postgres.connection import connect, transaction

    store = PostgresStore.create(postgres_url, name="shared", model="faces", model_sha256="a" * 64, dim=dim)
    try:
        store.add("ada", unit_vectors(2), shas(2))
        assert store.counts() == (1, 2)
        schema = store.schema
        other = connect(postgres_url)  # the other service deletes the gallery as its registry does
        try:
            with transaction(other):
                other.execute("DELETE FROM sg_galleries WHERE name = ?", ("shared",))
                other.execute(f'DROP SCHEMA "{schema}" CASCADE')
        finally:
            other.close()
        with pytest.raises(GalleryNotFound, match="no longer exists"):
            store.counts()
        with pytest.raises(GalleryNotFound):
            store.add("bob", unit_vectors(1, seed=1), shas(1))
    finally:
        store.close()


def test_identities_sort_by_code_point_whatever_the_databases_collation(
    postgres_url, unit_vectors, shas, dim
):
    """As SQLite does ("Bob" before "alice"): the identity columns are declared COLLATE "C", since a database
    created with en_US.utf8 (the PostgreSQL images' default) would list "alice" first."""
    from gallery.postgres import PostgresStore

    store = PostgresStore.create(postgres_url, name="order", model="faces", model_sha256="a" * 64, dim=dim)
    try:
        for i, name in enumerate(("alice", "Bob", "émile", "Zoe")):
            store.add(name, unit_vectors(1, seed=i), shas(1))
        assert [s.identity for s in store.list_identities(offset=0, limit=10)[1]] == [
            "Bob",
            "Zoe",
            "alice",
            "émile",
        ]
        with store.reading() as conn:
            columns = conn.execute(
                "SELECT table_name, collation_name FROM information_schema.columns "
                "WHERE table_schema = ? AND column_name = 'identity' ORDER BY table_name",
                (store.schema,),
            ).fetchall()
        assert columns == [("identities", "C"), ("references", "C")]
    finally:
        store.close()


def test_the_catalog_ddl_runs_once_per_version_and_never_goes_back(postgres_url, dim):
    """A catalog from before versions were kept (no sg_catalog row) gets its DDL again: a trigger it lacks is
    back; a current one runs none (no lock on the change log); a newer one's version is left as it is."""
    from gallery.postgres import PostgresStore
    from gallery.postgres.connection import connect, transaction
    from gallery.postgres.schema import CATALOG_VERSION
    from gallery.postgres.store import catalog_version, ensure_catalog

    PostgresStore.create(postgres_url, name="one", model="faces", model_sha256="a" * 64, dim=dim).close()
    conn = connect(postgres_url)
    trigger = "SELECT COUNT(*) FROM pg_trigger WHERE tgname = 'sg_galleries_changed'"
    try:
        assert catalog_version(conn) == CATALOG_VERSION
        with transaction(conn):  # as a catalog made before versions were kept, and missing a later trigger
            conn.execute("DROP TABLE public.sg_catalog")
            conn.execute("DROP TRIGGER sg_galleries_changed ON public.sg_galleries")
        assert catalog_version(conn) == 0 and conn.execute(trigger).fetchone() == (0,)
        PostgresStore.create(postgres_url, name="two", model="faces", model_sha256="a" * 64, dim=dim).close()
        assert catalog_version(conn) == CATALOG_VERSION and conn.execute(trigger).fetchone() == (1,)

        with transaction(conn):
            ensure_catalog(conn)
            held = conn.execute(
                "SELECT COUNT(*) FROM pg_locks WHERE pid = pg_backend_pid() "
                "AND relation = 'public.sg_changes'::regclass"
            ).fetchone()
        assert held == (0,)  # a current catalog: no DDL, so no lock on the log every gallery writes

        with transaction(conn):
            conn.execute("UPDATE public.sg_catalog SET version = ?", (CATALOG_VERSION + 1,))
        PostgresStore.create(
            postgres_url, name="three", model="faces", model_sha256="a" * 64, dim=dim
        ).close()
        assert catalog_version(conn) == CATALOG_VERSION + 1
    finally:
        conn.close()
