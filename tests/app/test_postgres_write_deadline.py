"""A write that gets no answer from PostgreSQL fails within its deadline (503 storage_error) instead of holding
its request and its gallery's lock for ever; nothing of it is kept, the gallery keeps answering, and the next
write goes through once the server answers (a real server from the pgserver wheel; skipped, saying why,
without)."""

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
