"""The lifespan: persistence across restarts, model binding refusals, broken models, separate metrics."""

from __future__ import annotations

import shutil

import pytest


async def answers(helpers, client) -> list[tuple[str | None, list[tuple[str, float, int]]]]:
    probes = [helpers.noisy(name, seed=300) for name in helpers.IDENTITIES] + [helpers.pattern("stranger")]
    out = []
    for probe in probes:
        body = (await helpers.identify(client, probe)).json()
        out.append(
            (
                body["identity"],
                [(c["identity"], c["distance"], c["reference_id"]) for c in body["candidates"]],
            )
        )
    return out


async def test_restart_on_same_data_dir_keeps_everything_with_same_answers(helpers, settings):
    async with helpers.serving(settings) as (_, client):
        for name in helpers.IDENTITIES:
            await helpers.enroll(client, name, metadata='{"n": 1}')
        await client.post("/galleries", json={"name": "extra", "model": "toy", "threshold": 0.3})
        before = await answers(helpers, client)
        listing = (await client.get("/galleries")).json()
        page = (await client.get("/galleries/faces/identities")).json()
    async with helpers.serving(settings) as (_, client):
        assert await answers(helpers, client) == before
        assert (await client.get("/galleries")).json() == listing
        assert (await client.get("/galleries/faces/identities")).json() == page
    assert [identity for identity, _ in before] == [*helpers.IDENTITIES, None]


@pytest.fixture
def own_models(tmp_path, models_dir):
    """A private copy of the models directory that a test may change."""
    path = tmp_path / "models"
    shutil.copytree(models_dir, path)
    return path


async def test_swapped_model_refuses_its_gallery_and_keeps_service_up(helpers, settings_factory, own_models):
    settings = settings_factory(models_dir=own_models)
    async with helpers.serving(settings) as (_, client):
        await helpers.enroll(client, "alice")
        await client.post("/galleries", json={"name": "other", "model": "toy"})
        await helpers.enroll(client, "bob", gallery="other")
    new_sha = helpers.write_model(own_models, "faces", seed=1)  # same name, different weights
    async with helpers.serving(settings) as (_, client):
        ready = (await client.get("/ready")).json()
        assert ready["status"] == "degraded"
        faces = ready["galleries"]["faces"]
        assert faces["status"] == "model_mismatch" and new_sha in faces["message"]
        for response in (
            await helpers.identify(client, helpers.noisy("alice", seed=1)),
            await helpers.enroll(client, "carol"),
            await client.post("/verify", data={"gallery": "faces"}, files={"image_a": b"", "image_b": b""}),
        ):
            assert response.status_code == 409
            assert response.json()["error"]["code"] == "model_mismatch"
        assert (await client.get("/galleries/faces")).json()["status"] == "model_mismatch"
        assert (await client.get("/galleries/faces")).json()["references"] == 2
        assert (await helpers.identify(client, helpers.noisy("bob", seed=1), gallery="other")).json()[
            "identity"
        ] == "bob"


async def test_missing_model_makes_gallery_unavailable(helpers, settings_factory, own_models):
    settings = settings_factory(models_dir=own_models)
    async with helpers.serving(settings) as (_, client):
        await client.post("/galleries", json={"name": "other", "model": "toy"})
    (own_models / "toy.json").unlink()
    async with helpers.serving(settings) as (_, client):
        assert (await client.get("/ready")).json()["galleries"]["other"]["status"] == "model_missing"
        response = await helpers.identify(client, helpers.pattern("alice"), gallery="other")
        assert response.status_code == 503 and response.json()["error"]["code"] == "model_unavailable"


async def test_broken_model_is_skipped_and_reported(helpers, settings_factory, own_models):
    (own_models / "toy.onnx").write_bytes(b"tampered")
    (own_models / "junk.json").write_text("{not json")
    async with helpers.serving(settings_factory(models_dir=own_models)) as (_, client):
        ready = (await client.get("/ready")).json()
        assert set(ready["models"]) == {"faces"}
        assert "sha256" in ready["skipped_models"]["toy"] and "junk" in ready["skipped_models"]
        response = await client.post("/galleries", json={"name": "x", "model": "toy"})
        assert response.status_code == 404 and "failed to load" in response.json()["error"]["message"]
        assert (await helpers.identify(client, helpers.pattern("alice"))).status_code == 200


async def test_two_apps_in_one_process_keep_separate_metrics(helpers, settings_factory, tmp_path):
    async with (
        helpers.serving(settings_factory()) as (_, first),
        helpers.serving(settings_factory(data_dir=tmp_path / "b")) as (_, second),
    ):
        await first.get("/galleries")
        await first.get("/galleries")
        await second.get("/galleries")
        line = 'sg_http_requests_total{method="GET",route="/galleries",status="200"}'
        assert f"{line} 2.0" in (await first.get("/metrics")).text
        assert f"{line} 1.0" in (await second.get("/metrics")).text


async def test_gil_switch_interval_is_set_while_serving_and_restored_after(helpers, settings_factory):
    import sys

    before = sys.getswitchinterval()
    async with helpers.serving(settings_factory(gil_switch_interval_ms=0.25)):
        assert sys.getswitchinterval() == pytest.approx(0.00025)
    assert sys.getswitchinterval() == before


async def test_search_settings_reach_the_gallery_index_config(helpers, settings_factory):
    settings = settings_factory(
        search_blas_min_queries=5, search_threads=2, hnsw_ef_search=99, index_background_build_min=7
    )
    async with helpers.serving(settings) as (app, _):
        config = app.state.runtime.registry.config
        assert (config.blas_min_queries, config.omp_threads, config.ef_search) == (5, 2, 99)
        assert config.background_build_min == 7
