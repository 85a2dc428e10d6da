"""Model migrations on galleries shared by replicas (a real PostgreSQL from the pgserver wheel; skipped, saying
why, without): one replica runs a migration under the store's lease while another holds still, a replica
that lacks the model neither resumes nor rolls back a migration another replica runs, and a migration whose
runner died is taken over by a replica that has the model."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from app.migration import LEASE

NAMES = ("alice", "bob")


def models(helpers, tmp_path: Path, *names: str) -> Path:
    folder = tmp_path / "-".join(names)
    folder.mkdir()
    for seed, name in enumerate(names):
        helpers.write_model(folder, name, seed=seed)
    return folder


async def state(client, gallery: str = "toy") -> dict:
    return (await client.get(f"/galleries/{gallery}/migration")).json()


async def wait_for_state(client, wanted: str, *, timeout: float = 10.0) -> dict:
    for _ in range(int(timeout / 0.05)):
        body = await state(client)
        if body["state"] == wanted:
            return body
        await asyncio.sleep(0.05)
    pytest.fail(f"the migration never became {wanted}: {body}")


def test_a_lease_is_held_by_one_store_handle_at_a_time(postgres_url, tmp_path):
    from gallery.postgres import PostgresStore
    from gallery.store import GalleryStore

    first = PostgresStore.create(postgres_url, name="g", model="toy", model_sha256="a" * 64, dim=4)
    second = PostgresStore.open(postgres_url, "g")
    try:
        held = first.try_lease(LEASE)
        assert held.held and not second.try_lease(LEASE).held
        assert second.try_lease("other work").held  # per purpose
        held.release()
        assert second.try_lease(LEASE).held
    finally:
        first.close()
        second.close()
    local = GalleryStore.create(tmp_path / "g.sqlite", name="g", model="toy", model_sha256="a" * 64, dim=4)
    assert local.try_lease(LEASE).held and local.try_lease(LEASE).held  # one process: its tasks decide
    local.close()


async def test_a_migration_another_replica_runs_is_left_alone_then_taken_over_when_it_dies(
    helpers, settings_factory, postgres_url, tmp_path
):
    from gallery.postgres import PostgresStore

    both = models(helpers, tmp_path, "toy", "other")
    settings = settings_factory(
        database_url=postgres_url, models_dir=both, default_galleries=("toy",), replica_poll_s=0.2
    )
    async with helpers.serving(settings) as (_, client):
        for name in NAMES:
            assert (await helpers.enroll(client, name, gallery="toy")).status_code == 201
    other_replica = PostgresStore.open(postgres_url, "toy")  # the replica "running" the migration
    lease = other_replica.try_lease(LEASE)
    try:
        assert lease.held
        async with helpers.serving(settings) as (_, client):
            started = await client.post("/galleries/toy/migrate", json={"model": "other"})
            assert started.status_code == 202, started.text
            await asyncio.sleep(1.0)  # five poll intervals: this replica must not run it meanwhile
            body = await state(client)
            assert body["state"] == "running" and body["done"] == 0, body

        only_toy = settings_factory(
            database_url=postgres_url,
            models_dir=models(helpers, tmp_path, "toy"),
            default_galleries=("toy",),
            data_dir=tmp_path / "replica-without-the-model",
        )
        async with helpers.serving(only_toy) as (_, client):  # lacks "other": would roll back if alone
            await asyncio.sleep(0.5)
            assert (await state(client))["state"] == "running"
    finally:
        lease.release()  # the running replica dies: its session's lock goes with it
        other_replica.close()

    async with helpers.serving(settings) as (_, client):  # a replica with the model takes it over
        done = await wait_for_state(client, "completed")
        assert done["done"] == len(NAMES) * 2
        assert (await client.get("/galleries/toy")).json()["model"] == "other"
        found = await helpers.identify(client, helpers.noisy("alice", seed=9), gallery="toy")
        assert found.json()["identity"] == "alice"


async def test_a_running_replica_adopts_a_migration_whose_runner_died(
    helpers, settings_factory, postgres_url, tmp_path
):
    from gallery.postgres import PostgresStore

    settings = settings_factory(
        database_url=postgres_url,
        models_dir=models(helpers, tmp_path, "toy", "other"),
        default_galleries=("toy",),
        replica_poll_s=0.2,
    )
    async with helpers.serving(settings) as (_, client):
        for name in NAMES:
            assert (await helpers.enroll(client, name, gallery="toy")).status_code == 201
        other_replica = PostgresStore.open(postgres_url, "toy")
        lease = other_replica.try_lease(LEASE)
        try:
            assert (await client.post("/galleries/toy/migrate", json={"model": "other"})).status_code == 202
            await asyncio.sleep(0.6)
            assert (await state(client))["done"] == 0  # the lease holder runs it, not this replica
        finally:
            lease.release()
            other_replica.close()
        await wait_for_state(client, "completed")  # adopted within a poll interval or two
