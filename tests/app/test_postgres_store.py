"""The service with its galleries in PostgreSQL (SG_DATABASE_URL, a real server from the pgserver wheel):
enroll, identify, delete and a restart answer as they do on SQLite, and a second service on the same
database (a replica) starts with what the first enrolled."""

from __future__ import annotations

import asyncio
import time

import pytest
from pydantic import ValidationError

from app.settings import Settings


def test_database_url_must_be_postgresql_and_empty_means_sqlite():
    with pytest.raises(ValidationError, match="postgresql://"):
        Settings(database_url="mysql://db/x")
    assert Settings(database_url="").database_url is None
    secret = Settings(database_url="postgresql://u:pw@db/x")
    assert "pw" not in repr(secret) and secret.database_url.get_secret_value().endswith("@db/x")


async def test_enroll_identify_delete_and_restart_on_postgres(helpers, settings_factory, postgres_url):
    settings = settings_factory(database_url=postgres_url)
    async with helpers.serving(settings) as (_, client):
        for name in ("alice", "bob"):
            response = await helpers.enroll(client, name)
            assert response.status_code == 201, response.text
        found = await helpers.identify(client, helpers.noisy("alice", seed=99))
        assert found.status_code == 200 and found.json()["identity"] == "alice", found.text
        deleted = await client.delete("/galleries/faces/identities/bob")
        assert deleted.status_code in (200, 204), deleted.text
        missing = await client.delete("/galleries/faces/identities/bob")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "identity_not_found"
    async with helpers.serving(settings) as (_, client):  # a restart: the truth is PostgreSQL's
        info = (await client.get("/galleries/faces")).json()
        assert (info["identities"], info["references"]) == (1, 2)
        found = await helpers.identify(client, helpers.noisy("alice", seed=98))
        assert found.json()["identity"] == "alice"
        assert (await helpers.identify(client, helpers.noisy("bob", seed=97))).json()["identity"] is None


async def test_a_second_replica_starts_with_what_the_first_enrolled(
    helpers, settings_factory, postgres_url, tmp_path
):
    first = settings_factory(database_url=postgres_url)
    second = settings_factory(database_url=postgres_url, data_dir=tmp_path / "replica-b")
    async with helpers.serving(first) as (_, client_a):
        assert (await helpers.enroll(client_a, "carol")).status_code == 201
        async with helpers.serving(second) as (_, client_b):
            found = await helpers.identify(client_b, helpers.noisy("carol", seed=5))
            assert found.status_code == 200 and found.json()["identity"] == "carol", found.text
            created = await client_b.post("/galleries", json={"name": "lab", "model": "toy"})
            assert created.status_code == 201, created.text
        taken = await client_a.post("/galleries", json={"name": "lab", "model": "toy"})
        assert taken.status_code == 409 and taken.json()["error"]["code"] == "gallery_exists"


async def test_ready_reports_how_far_behind_the_change_log_a_replica_is(
    helpers, settings_factory, postgres_url
):
    async with helpers.serving(settings_factory()) as (_, client):  # SQLite: no one else writes
        assert (await client.get("/ready")).json()["replication"] is None
    async with helpers.serving(settings_factory(database_url=postgres_url)) as (app, client):
        registry = app.state.runtime.registry
        deadline = time.monotonic() + 10
        while not registry.replication().listening:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        enrolled = await helpers.enroll(client, "dora")
        assert enrolled.status_code == 201, enrolled.text
        while (await client.get("/ready")).json()["replication"]["behind_changes"] != 0:
            assert time.monotonic() < deadline  # the follower applies the enroll's own notification
            await asyncio.sleep(0.05)
        registry.follower.stop()  # this replica stops following: what another commits now waits
        body = (await client.get("/ready")).json()
        assert body["status"] == "degraded"  # not listening: how far behind is unknown, and not asked
        assert not body["replication"]["listening"] and body["replication"]["behind_changes"] is None
        other = registry.get("faces")
        with other.store.atomic() as conn:  # another replica's delete, as PostgreSQL records it
            conn.execute('DELETE FROM "references" WHERE identity = ?', ("dora",))
        await asyncio.sleep(0.3)
        registry.follower._set(listening=True)  # listening again, the delete not applied yet
        replication = (await client.get("/ready")).json()["replication"]
        assert replication["listening"] and replication["behind_changes"] == 2
        assert replication["galleries"]["faces"]["changes"] == 2 and replication["behind_s"] >= 0.25
        other.catch_up()
        body = (await client.get("/ready")).json()
        assert body["status"] == "ready"
        assert body["replication"]["behind_changes"] == 0 and body["replication"]["galleries"] == {}


async def test_a_replica_with_another_model_refuses_the_shared_gallery(
    helpers, settings_factory, postgres_url, tmp_path
):
    """Replicas mid-upgrade: B loads a `toy` whose sha256 differs from the one that embedded the gallery A
    created, so B refuses it (409 model_mismatch, /ready degraded) while A serves it."""
    models_a, models_b = tmp_path / "models-a", tmp_path / "models-b"
    models_a.mkdir()
    models_b.mkdir()
    helpers.write_model(models_a, "toy", seed=0)
    helpers.write_model(models_b, "toy", seed=1)
    a = settings_factory(database_url=postgres_url, models_dir=models_a, default_galleries=("toy",))
    b = settings_factory(
        database_url=postgres_url, models_dir=models_b, default_galleries=("toy",), data_dir=tmp_path / "b"
    )
    async with helpers.serving(a) as (_, client_a), helpers.serving(b) as (_, client_b):
        assert (await helpers.enroll(client_a, "erin", gallery="toy")).status_code == 201
        probe = helpers.noisy("erin", seed=3)
        assert (await helpers.identify(client_a, probe, gallery="toy")).json()["identity"] == "erin"
        refused = await helpers.identify(client_b, probe, gallery="toy")
        assert refused.status_code == 409 and refused.json()["error"]["code"] == "model_mismatch"
        enrolled = await helpers.enroll(client_b, "fay", gallery="toy")
        assert enrolled.status_code == 409 and enrolled.json()["error"]["code"] == "model_mismatch"
        ready = (await client_b.get("/ready")).json()
        assert ready["status"] == "degraded" and ready["galleries"]["toy"]["status"] == "model_mismatch"
    async with helpers.serving(a) as (_, client_a):  # nothing B refused was stored
        assert (await client_a.get("/galleries/toy")).json()["references"] == 2
