"""POST /galleries/{name}/migrate with real tiny encoders: model A (seed 0) swapped for model B (seed 1)
under the same name, or migrated to another served model; failures, cancelling, metrics."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

NAMES = ("alice", "bob", "carol")


def _models(helpers, tmp_path: Path, *, seed: int, also: dict[str, int] | None = None) -> Path:
    models = tmp_path / "models"
    models.mkdir(exist_ok=True)
    helpers.write_model(models, "toy", seed=seed)
    for name, other_seed in (also or {}).items():
        helpers.write_model(models, name, seed=other_seed)
    return models


def _settings(settings_factory, models: Path, **overrides):
    return settings_factory(models_dir=models, default_galleries=("toy",), **overrides)


async def _enroll_all(helpers, client, gallery: str = "toy", names=NAMES) -> None:
    for name in names:
        response = await helpers.enroll(client, name, gallery=gallery)
        assert response.status_code == 201, response.text


async def _wait_for(client, gallery: str, *states: str) -> dict:
    for _ in range(400):
        body = (await client.get(f"/galleries/{gallery}/migration")).json()
        if body["state"] in states:
            return body
        await asyncio.sleep(0.025)
    pytest.fail(f"migration of {gallery} never reached {states}: {body}")


async def _verify_distance(helpers, client, model: str, a, b) -> float:
    files = {"image_a": helpers.image_file(a), "image_b": helpers.image_file(b)}
    response = await client.post("/verify", data={"model": model}, files=files)
    return response.json()["distance"]


async def _own_distance(helpers, client, model: str, name: str, probe) -> float:
    """What identify must answer for `name` with `model`'s embeddings: its nearest enrolled reference."""
    views = [helpers.noisy(name, seed=i) for i in range(2)]  # what helpers.enroll sent
    return min([await _verify_distance(helpers, client, model, view, probe) for view in views])


async def test_migrate_after_a_model_swap_identify_gives_the_new_models_answers(
    helpers, tmp_path, settings_factory
):
    probe = helpers.noisy("alice", seed=99)
    models = _models(helpers, tmp_path, seed=0)
    async with helpers.serving(_settings(settings_factory, models)) as (_, client):
        await _enroll_all(helpers, client)
        before = (await helpers.identify(client, probe, gallery="toy")).json()
        expected_a = await _own_distance(helpers, client, "toy", "alice", probe)
        assert before["distance"] == pytest.approx(expected_a, abs=1e-5)
    sha_b = helpers.write_model(models, "toy", seed=1)  # the upgrade: model B under the same name
    async with helpers.serving(_settings(settings_factory, models)) as (_, client):
        refused = await helpers.identify(client, probe, gallery="toy")
        assert refused.status_code == 409 and refused.json()["error"]["code"] == "model_mismatch"
        assert 'POST /galleries/toy/migrate {"model": "toy"}' in refused.json()["error"]["message"]
        started = await client.post("/galleries/toy/migrate", json={"model": "toy"})
        assert started.status_code == 202, started.text
        assert (started.json()["to"], started.json()["to_sha256"]) == ("toy", sha_b)
        done = await _wait_for(client, "toy", "completed")
        assert (done["done"], done["total"], done["failed"], done["failures"]) == (6, 6, 0, [])
        gallery = (await client.get("/galleries/toy")).json()
        assert (gallery["status"], gallery["model_sha256"], gallery["references"]) == ("ready", sha_b, 6)
        assert gallery["migration"] == {"to": "toy", "state": "completed", "done": 6, "total": 6, "failed": 0}
        after = (await helpers.identify(client, probe, gallery="toy")).json()
        expected = await _own_distance(helpers, client, "toy", "alice", probe)  # B's embeddings now
        assert after["identity"] == "alice" and after["distance"] == pytest.approx(expected, abs=1e-5)
        assert abs(after["distance"] - before["distance"]) > 1e-3  # A's answer would differ
        metrics = (await client.get("/metrics")).text
        assert 'sg_migration_references{count="done",gallery="toy"} 6.0' in metrics
        assert 'sg_migration_running{gallery="toy"} 0.0' in metrics
    async with helpers.serving(_settings(settings_factory, models)) as (
        _,
        client,
    ):  # and it stays B after a restart
        again = (await helpers.identify(client, probe, gallery="toy")).json()
        assert again["distance"] == pytest.approx(expected, abs=1e-5)


async def test_migrate_with_failures_blocks_then_drop_failed_switches_and_lists_them(
    helpers, tmp_path, settings_factory, stored_sql
):
    models = _models(helpers, tmp_path, seed=0)
    settings = _settings(settings_factory, models)
    async with helpers.serving(settings) as (_, client):
        await _enroll_all(helpers, client)
    with stored_sql(settings, "toy") as conn:
        conn.execute("UPDATE reference_images SET data = ? WHERE reference_id = 1", (b"\0\0\0\0",))
        conn.execute("DELETE FROM reference_images WHERE reference_id = 3")
    helpers.write_model(models, "toy", seed=1)
    async with helpers.serving(settings) as (_, client):
        await client.post("/galleries/toy/migrate", json={"model": "toy"})
        blocked = await _wait_for(client, "toy", "blocked")
        codes = {f["reference_id"]: (f["identity"], f["code"]) for f in blocked["failures"]}
        assert codes == {1: ("alice", "undecodable"), 3: ("bob", "no_image")}
        assert (blocked["done"], blocked["failed"], blocked["total"]) == (4, 2, 6)
        assert "drop_failed" in blocked["message"]
        assert (await client.get("/galleries/toy")).json()["status"] == "model_mismatch"  # not switched
        await client.post("/galleries/toy/migrate", json={"model": "toy", "drop_failed": True})
        done = await _wait_for(client, "toy", "completed")
        assert [f["reference_id"] for f in done["failures"]] == [1, 3] and done["failed"] == 2
        gallery = (await client.get("/galleries/toy")).json()
        assert (gallery["status"], gallery["references"], gallery["identities"]) == ("ready", 4, 3)
        answer = (await helpers.identify(client, helpers.noisy("bob", seed=5), gallery="toy")).json()
        assert answer["identity"] == "bob"


async def test_migrate_to_another_served_model_rebinds_the_gallery(helpers, tmp_path, settings_factory):
    models = _models(helpers, tmp_path, seed=0, also={"other": 1})
    async with helpers.serving(_settings(settings_factory, models)) as (_, client):
        await _enroll_all(helpers, client)
        assert (await client.post("/galleries/toy/migrate", json={"model": "nope"})).status_code == 404
        same = await client.post("/galleries/toy/migrate", json={"model": "toy"})
        assert same.status_code == 409 and same.json()["error"]["code"] == "migration_conflict"
        assert (await client.post("/galleries/toy/migrate", json={"model": "other"})).status_code == 202
        await _wait_for(client, "toy", "completed")
        gallery = (await client.get("/galleries/toy")).json()
        assert (gallery["model"], gallery["status"]) == ("other", "ready")
        probe = helpers.noisy("carol", seed=8)
        answer = (await helpers.identify(client, probe, gallery="toy")).json()
        expected = await _own_distance(helpers, client, "other", "carol", probe)
        assert answer["identity"] == "carol" and answer["distance"] == pytest.approx(expected, abs=1e-5)


async def test_migrate_gallery_keeping_no_images_is_409_not_migratable(helpers, tmp_path, settings_factory):
    models = _models(helpers, tmp_path, seed=0, also={"other": 1})
    async with helpers.serving(_settings(settings_factory, models)) as (_, client):
        await client.post("/galleries", json={"name": "bare", "model": "toy", "keep_images": False})
        await _enroll_all(helpers, client, gallery="bare")
        response = await client.post("/galleries/bare/migrate", json={"model": "other"})
        assert response.status_code == 409 and response.json()["error"]["code"] == "not_migratable"
        missing = await client.get("/galleries/bare/migration")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "migration_not_found"
        assert (await client.get("/galleries/bare")).json()["migration"] is None


async def test_cancel_migration_drops_what_it_staged_and_keeps_the_model(
    helpers, tmp_path, settings_factory, stored_sql
):
    models = _models(helpers, tmp_path, seed=0, also={"other": 1})
    settings = _settings(settings_factory, models, migration_batch=1)
    names = tuple(f"person-{i:03d}" for i in range(60))
    async with helpers.serving(settings) as (_, client):
        await _enroll_all(helpers, client, names=names)
        assert (await client.post("/galleries/toy/migrate", json={"model": "other"})).status_code == 202
        cancelled = await client.delete("/galleries/toy/migration")
        assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
        assert cancelled.json()["done"] < 120
        gallery = (await client.get("/galleries/toy")).json()
        assert (gallery["model"], gallery["status"], gallery["references"]) == ("toy", "ready", 120)
        again = await client.delete("/galleries/toy/migration")
        assert again.status_code == 404 and again.json()["error"]["code"] == "migration_not_found"
    with stored_sql(settings, "toy") as conn:
        assert conn.execute("SELECT COUNT(*) FROM migration_embeddings").fetchone()[0] == 0


async def test_a_storage_failure_is_waited_out_and_any_other_error_leaves_the_migration_blocked(
    helpers, tmp_path, settings_factory, monkeypatch
):
    """Faults injected into the step's staging write: a full disk once (the migration goes on and
    completes), then an unexpected error (it ends `blocked` with the reason, not `running` with no task)."""
    import app.migration as app_migration
    from gallery import migration as gallery_migration
    from gallery.errors import StorageFull

    monkeypatch.setattr(app_migration, "RETRY_S", 0.01)
    real_stage = gallery_migration.stage
    faults = [StorageFull("disk full"), None]

    def stage(*args, **kwargs):
        fault = faults.pop(0) if faults else None
        if fault is not None:
            raise fault
        return real_stage(*args, **kwargs)

    monkeypatch.setattr(gallery_migration, "stage", stage)
    models = _models(helpers, tmp_path, seed=0)
    async with helpers.serving(_settings(settings_factory, models)) as (_, client):
        await _enroll_all(helpers, client)
    helpers.write_model(models, "toy", seed=1)
    async with helpers.serving(_settings(settings_factory, models)) as (_, client):
        await client.post("/galleries/toy/migrate", json={"model": "toy"})
        done = await _wait_for(client, "toy", "completed", "blocked")
        assert (done["state"], done["done"], done["total"]) == ("completed", 6, 6)

    def broken(*args, **kwargs):
        raise RuntimeError("an unexpected fault")

    monkeypatch.setattr(gallery_migration, "stage", broken)
    helpers.write_model(models, "toy", seed=2)
    async with helpers.serving(_settings(settings_factory, models)) as (_, client):
        await client.post("/galleries/toy/migrate", json={"model": "toy"})
        blocked = await _wait_for(client, "toy", "blocked", "completed")
        assert blocked["state"] == "blocked" and "an unexpected fault" in blocked["message"]
