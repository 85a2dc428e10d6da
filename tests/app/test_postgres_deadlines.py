"""A write, or a read, that gets no answer from PostgreSQL fails within its deadline (503 storage_error) instead
of holding its request and its gallery's lock for ever; nothing of a cut-off write is kept, the gallery keeps
answering, and the next call goes through once the server answers (a real server from the pgserver wheel;
skipped, saying why, without)."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest

psycopg = pytest.importorskip("psycopg", reason="PostgreSQL tests need psycopg (the dev extra)")
from gallery.postgres.store import catalog_schema  # noqa: E402


async def timed(call, *, timeout: float = 30.0):
    started = time.monotonic()
    response = await asyncio.wait_for(call, timeout=timeout)
    return response, time.monotonic() - started


@contextlib.contextmanager
def gallery_lock_held(url: str, gallery: str):
    """Another writer (a replica whose server connection stalled mid-write) holding the gallery's lock, until
    the block ends."""
    with psycopg.connect(url, autocommit=True) as holder:
        holder.execute("BEGIN")
        holder.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (catalog_schema(url, gallery),))
        yield
        holder.execute("ROLLBACK")


@contextlib.contextmanager
def table_locked(url: str, gallery: str, table: str):
    """Another session holding one of the gallery's tables in ACCESS EXCLUSIVE mode (as a schema change does),
    until the block ends: every read of the table waits for it."""
    with psycopg.connect(url, autocommit=True) as holder:
        holder.execute("BEGIN")
        holder.execute(f'LOCK TABLE "{catalog_schema(url, gallery)}"."{table}" IN ACCESS EXCLUSIVE MODE')
        yield
        holder.execute("ROLLBACK")


async def test_a_write_behind_a_lock_no_one_releases_fails_at_its_deadline(
    helpers, settings_factory, postgres_url
):
    settings = settings_factory(database_url=postgres_url, database_write_deadline_s=2.0)
    async with helpers.serving(settings) as (_, client):
        assert (await helpers.enroll(client, "alice")).status_code == 201
        with gallery_lock_held(postgres_url, "faces"):
            refused, took = await timed(helpers.enroll(client, "bob"))
            assert refused.status_code == 503, refused.text
            error = refused.json()["error"]
            assert error["code"] == "storage_error" and "no answer within 2 s" in error["message"], error
            assert 2.0 <= took < 6.0, took
            found = await helpers.identify(client, helpers.noisy("alice", seed=9))
            assert found.json()["identity"] == "alice"  # the gallery answers meanwhile
        added, _ = await timed(helpers.enroll(client, "bob"))
        assert added.status_code == 201, added.text
        listed = (await client.get("/galleries/faces/identities")).json()
        assert sorted(i["identity"] for i in listed["identities"]) == ["alice", "bob"], listed
        references = (await client.get("/galleries/faces")).json()["references"]
        assert references == 4, references  # two each: the refused write kept nothing


async def test_with_no_deadline_the_write_waits_for_the_lock(helpers, settings_factory, postgres_url):
    settings = settings_factory(database_url=postgres_url, database_write_deadline_s=0)
    async with helpers.serving(settings) as (_, client):
        assert (await helpers.enroll(client, "alice")).status_code == 201
        with gallery_lock_held(postgres_url, "faces"):
            pending = asyncio.ensure_future(helpers.enroll(client, "bob"))
            await asyncio.sleep(3.0)
            assert not pending.done()  # past where a 2 s deadline would have cut it
        added = await asyncio.wait_for(pending, timeout=10)
        assert added.status_code == 201, added.text


async def test_a_read_behind_a_lock_no_one_releases_fails_at_its_deadline(
    helpers, settings_factory, postgres_url
):
    settings = settings_factory(database_url=postgres_url, database_read_deadline_s=2.0)
    async with helpers.serving(settings) as (_, client):
        assert (await helpers.enroll(client, "alice")).status_code == 201
        with table_locked(postgres_url, "faces", "identities"):
            refused, took = await timed(client.get("/galleries/faces/identities"))
            assert refused.status_code == 503, refused.text
            error = refused.json()["error"]
            assert error["code"] == "storage_error" and "no answer within 2 s" in error["message"], error
            assert 2.0 <= took < 6.0, took
            found = await helpers.identify(client, helpers.noisy("alice", seed=9))
            assert found.json()["identity"] == "alice"  # the gallery's lock was let go: it answers
        listed, _ = await timed(client.get("/galleries/faces/identities"))
        assert [i["identity"] for i in listed.json()["identities"]] == ["alice"], listed.text
        # the pool replaced the connection it cut
        assert (await helpers.enroll(client, "bob")).status_code == 201


async def test_with_no_read_deadline_the_read_waits_for_the_lock(helpers, settings_factory, postgres_url):
    settings = settings_factory(database_url=postgres_url, database_read_deadline_s=0)
    async with helpers.serving(settings) as (_, client):
        assert (await helpers.enroll(client, "alice")).status_code == 201
        with table_locked(postgres_url, "faces", "identities"):
            pending = asyncio.ensure_future(client.get("/galleries/faces/identities"))
            await asyncio.sleep(3.0)
            assert not pending.done()  # past where a 2 s deadline would have cut it
        listed = await asyncio.wait_for(pending, timeout=10)
        assert [i["identity"] for i in listed.json()["identities"]] == ["alice"], listed.text


async def test_a_write_waits_past_the_read_deadline_within_its_own(helpers, settings_factory, postgres_url):
    settings = settings_factory(
        database_url=postgres_url, database_read_deadline_s=1.0, database_write_deadline_s=10.0
    )
    async with helpers.serving(settings) as (_, client):
        assert (await helpers.enroll(client, "alice")).status_code == 201
        with gallery_lock_held(postgres_url, "faces"):
            pending = asyncio.ensure_future(helpers.enroll(client, "bob"))
            await asyncio.sleep(2.5)  # the write's wait for the lock outlasts the read deadline
            assert not pending.done()
        added = await asyncio.wait_for(pending, timeout=10)
        assert added.status_code == 201, added.text  # bounded as a whole by the write deadline alone
