"""Two services sharing one PostgreSQL database: a gallery one of them deleted answers the other's reads as
gallery_not_found, not as an unnamed database error (a real PostgreSQL server; skipped, saying why, without)."""

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
