"""A PostgreSQL server that hangs (it accepts, then never answers: its processes stopped, as under an I/O stall)
under a serving replica: `/ready` answers within its deadlines, degraded, with the write failure that stands and
the lag unknown, instead of hanging; once the server answers and takes writes again, `/ready` is ready (a
server of the test's own, from the pgserver wheel; skipped, saying why, without)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from pathlib import Path

import pytest

from tests.support.postgres import own_server


@pytest.fixture
def server():
    with own_server("sg-postgres-hang-") as handle:
        yield handle


def server_pids(pgdata: Path) -> list[int]:
    """The postmaster (first line of postmaster.pid) and every process it started."""
    postmaster = int((pgdata / "postmaster.pid").read_text().splitlines()[0])
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == postmaster:
            children.append(int(stat.parent.name))
    return [postmaster, *children]


def signal_all(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):  # gone since the listing
            os.kill(pid, sig)


def admin(url: str, *statements: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


async def ready(client) -> tuple[dict, float]:
    started = time.monotonic()
    response = await asyncio.wait_for(client.get("/ready"), timeout=15)
    return response.json(), time.monotonic() - started


async def until(condition, *, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, "not within the timeout"
        await asyncio.sleep(0.1)


async def test_ready_answers_within_its_deadlines_while_the_server_hangs(helpers, settings_factory, server):
    url = server.get_uri()
    settings = settings_factory(database_url=url, storage_probe_s=0.0, database_write_deadline_s=2.0)
    async with helpers.serving(settings) as (app, client):
        registry = app.state.runtime.registry
        assert (await helpers.enroll(client, "alice")).status_code == 201
        await until(lambda: asyncio.sleep(0, result=registry.replication().listening))
        body, _ = await ready(client)
        assert body["status"] == "ready" and body["replication"]["behind_changes"] == 0, body

        # writes fail (the database turned read-only, as a demoted primary is), and the failure stands
        admin(url, "ALTER SYSTEM SET default_transaction_read_only = on", "SELECT pg_reload_conf()")
        await asyncio.sleep(0.5)
        refused = await helpers.enroll(client, "bob")
        assert refused.status_code == 503 and refused.json()["error"]["code"] == "storage_error", refused.text
        body, _ = await ready(client)
        assert body["degraded_galleries"]["faces"]["storage"]["code"] == "storage_error", body

        pids = server_pids(Path(server.pgdata))
        signal_all(pids, signal.SIGSTOP)
        try:
            for _ in range(2):  # the second while the first's questions are still unanswered
                body, took = await ready(client)
                assert took < 3.5, took  # two questions, 1 s each, not a hang
                assert body["status"] == "degraded", body
                assert body["degraded_galleries"]["faces"]["storage"]["code"] == "storage_error", body
                replication = body["replication"]
                assert replication["behind_changes"] is None and "did not say" in replication["error"], body
            found = await asyncio.wait_for(helpers.identify(client, helpers.noisy("alice", seed=9)), 5)
            assert found.json()["identity"] == "alice"  # identify answers from memory meanwhile
            started = time.monotonic()
            refused = await asyncio.wait_for(helpers.enroll(client, "carol"), timeout=40)
            took = time.monotonic() - started
            assert refused.status_code == 503, (
                refused.text
            )  # a write fails, in bounded time, instead of hanging
            assert refused.json()["error"]["code"] == "storage_error" and took < 16.0, (took, refused.text)
            found = await asyncio.wait_for(helpers.identify(client, helpers.noisy("alice", seed=9)), 5)
            assert found.json()["identity"] == "alice"
        finally:
            signal_all(pids, signal.SIGCONT)

        admin(url, "ALTER SYSTEM RESET default_transaction_read_only", "SELECT pg_reload_conf()")

        async def back() -> bool:
            return (await ready(client))[0]["status"] == "ready"

        await until(
            back, timeout=40.0
        )  # the pool takes the server for stalled up to 10 s after its last check
        assert (await helpers.enroll(client, "bob")).status_code == 201
        assert (await helpers.enroll(client, "carol")).status_code == 201
