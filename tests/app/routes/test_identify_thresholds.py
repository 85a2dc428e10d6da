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
async def table_client(helpers, tmp_path, settings_factory):
    models = tmp_path / "models"
    models.mkdir()
    helpers.write_model(models, "faces", seed=0, threshold=0.5, identification=TABLE)
    async with helpers.serving(settings_factory(models_dir=models, default_galleries=("faces",))) as (
        _,
        client,
    ):
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


CENTROID_TABLE = Identification(
    target_fpir=0.01,
    rows=(IdentificationRow(identities=1, k=5, threshold=0.9),),
    statistic="centroid",
)


async def _alice_distances(helpers, make, root, table: Identification) -> tuple[dict, dict]:
    """identify's and verify-against-alice's answers for one alice probe, in a service whose card has `table`."""
    models = root / "models"
    models.mkdir(parents=True)
    helpers.write_model(models, "faces", seed=0, identification=table)
    settings = make(data_dir=root / "data", models_dir=models, default_galleries=("faces",))
    async with helpers.serving(settings) as (_, client):
        for name in ("alice", "bob"):
            await helpers.enroll(client, name, count=3)
        probe = helpers.noisy("alice", seed=9)
        body = (await helpers.identify(client, probe)).json()
        files = {"image": helpers.image_file(probe)}
        check = (
            await client.post("/verify", data={"gallery": "faces", "identity": "alice"}, files=files)
        ).json()
    return body, check


async def test_identify_and_verify_score_by_centroid_when_the_card_says_so(
    helpers, tmp_path, settings_factory
):
    nearest_table = Identification(target_fpir=0.01, rows=CENTROID_TABLE.rows)
    by_centroid, check = await _alice_distances(
        helpers, settings_factory, tmp_path / "centroid", CENTROID_TABLE
    )
    by_nearest, _ = await _alice_distances(helpers, settings_factory, tmp_path / "nearest", nearest_table)
    assert by_centroid["identity"] == "alice" and check["match"] is True
    # one score for both routes, and not the nearest reference's
    assert by_centroid["candidates"][0]["distance"] == pytest.approx(check["distance"], abs=1e-5)
    assert abs(by_centroid["candidates"][0]["distance"] - by_nearest["candidates"][0]["distance"]) > 1e-3
