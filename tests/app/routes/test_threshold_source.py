"""GET /galleries/{name} says which threshold is in force and why: the card's pair threshold, the card's
identification table, a threshold set by hand, or one set by calibration (remembered across restarts)."""

from __future__ import annotations

import pytest

from modelcard.identification import Identification, IdentificationRow

NAMES = tuple(f"person-{chr(ord('a') + i)}" for i in range(10))
TABLE = Identification(target_fpir=0.01, rows=(IdentificationRow(identities=1, k=5, threshold=0.9),))


async def _source(client, name: str) -> tuple[str, float | None]:
    body = (await client.get(f"/galleries/{name}")).json()
    return body["threshold_source"], body["threshold"]


async def test_threshold_source_follows_creation_calibration_and_clearing(helpers, settings):
    async with helpers.serving(settings) as (_, client):
        assert await _source(client, "faces") == ("card", 0.5)
        created = await client.post("/galleries", json={"name": "own", "model": "faces", "threshold": 1.9})
        assert created.json()["threshold_source"] == "override"
        for name in NAMES:
            assert (await helpers.enroll(client, name, gallery="own")).status_code == 201
        calibrated = (await client.post("/galleries/own/calibrate", json={"target_fpir": 0.05})).json()
        assert await _source(client, "own") == ("calibrated", pytest.approx(calibrated["threshold"]))
    async with helpers.serving(settings) as (_, client):  # the store remembers how it was set
        assert await _source(client, "own") == ("calibrated", pytest.approx(calibrated["threshold"]))
        cleared = (await client.delete("/galleries/own/threshold")).json()
        assert (cleared["threshold_source"], cleared["threshold_override"]) == ("card", None)


async def test_threshold_source_is_card_identification_with_a_table(helpers, tmp_path, settings_factory):
    models = tmp_path / "models"
    models.mkdir()
    helpers.write_model(models, "faces", seed=0, threshold=0.5, identification=TABLE)
    async with helpers.serving(settings_factory(models_dir=models, default_galleries=("faces",))) as (
        _,
        client,
    ):
        await helpers.enroll(client, "alice")
        assert await _source(client, "faces") == ("card_identification", pytest.approx(0.9))
