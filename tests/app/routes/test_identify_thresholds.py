"""identify follows the card's identification table: its threshold tightens as the gallery grows, a gallery
override wins, and verify keeps the card's pair threshold."""

from __future__ import annotations

import pytest

from modelcard.identification import Identification, IdentificationRow

# k=5 rows only, so every gallery reads them: 1 identity -> 0.9; 2 -> 0.05 (far stricter than the pair's 0.5)
TABLE = Identification(
    target_fpir=0.01,
    rows=(
        IdentificationRow(identities=1, k=5, threshold=0.9),
        IdentificationRow(identities=2, k=5, threshold=0.05),
    ),
)


@pytest.fixture
async def table_client(helpers, tmp_path):
    from tests.app.conftest import make_settings

    models = tmp_path / "models"
    models.mkdir()
    helpers.write_model(models, "faces", seed=0, threshold=0.5, identification=TABLE)
    async with helpers.serving(make_settings(tmp_path, models, default_galleries=("faces",))) as (_, client):
        yield client


async def test_identify_threshold_tightens_as_the_gallery_grows(helpers, table_client):
    await helpers.enroll(table_client, "alice")
    first = (await helpers.identify(table_client, helpers.noisy("alice", seed=9))).json()
    assert first["threshold"] == pytest.approx(0.9) and first["identity"] == "alice"
    await helpers.enroll(table_client, "bob")
    second = (await helpers.identify(table_client, helpers.noisy("alice", seed=9))).json()
    assert second["threshold"] == pytest.approx(0.05) and second["identity"] is None
    listing = (await table_client.get("/galleries/faces")).json()
    assert listing["threshold"] == pytest.approx(0.05)


async def test_gallery_override_wins_over_the_table(helpers, table_client):
    created = await table_client.post("/galleries", json={"name": "own", "model": "faces", "threshold": 0.7})
    assert created.status_code == 201
    await helpers.enroll(table_client, "alice", gallery="own")
    await helpers.enroll(table_client, "bob", gallery="own")
    body = (await helpers.identify(table_client, helpers.noisy("alice", seed=9), gallery="own")).json()
    assert body["threshold"] == pytest.approx(0.7) and body["identity"] == "alice"


async def test_verify_keeps_the_pair_threshold(helpers, table_client):
    files = {
        "image_a": helpers.image_file(helpers.pattern("alice")),
        "image_b": helpers.image_file(helpers.noisy("alice", seed=1)),
    }
    body = (await table_client.post("/verify", data={"model": "faces"}, files=files)).json()
    assert body["threshold"] == pytest.approx(0.5) and body["match"] is True
