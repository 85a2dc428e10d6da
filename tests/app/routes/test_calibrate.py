"""POST /galleries/{name}/calibrate and DELETE /galleries/{name}/threshold, with the real tiny encoder:
distinct patterns land about sqrt(2) apart, so enrolled identities are strangers to each other."""

from __future__ import annotations

import pytest

NAMES = tuple(f"person-{chr(ord('a') + i)}" for i in range(10))  # distinct in their first 8 bytes


async def loose_gallery(helpers, client, *, identities: int = 10, count: int = 2) -> None:
    """`loose`: a threshold of 1.9 that accepts almost anyone, with `identities` x `count` references."""
    created = await client.post("/galleries", json={"name": "loose", "model": "faces", "threshold": 1.9})
    assert created.status_code == 201, created.text
    for name in NAMES[:identities]:
        response = await helpers.enroll(client, name, gallery="loose", count=count)
        assert response.status_code == 201, response.text


async def test_calibrate_far_stranger_becomes_unknown_and_genuine_stays_known(helpers, client):
    await loose_gallery(helpers, client)
    stranger = helpers.pattern("stranger")
    assert (await helpers.identify(client, stranger, gallery="loose")).json()["match"] is True
    response = await client.post("/galleries/loose/calibrate", json={"target_fpir": 0.05})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["gallery"], body["identities"], body["references"]) == ("loose", 10, 20)
    assert (body["non_mated_probes"], body["mated_probes"], body["sampled"]) == (20, 20, False)
    assert body["target_fpir"] == 0.05 and body["fpir"] <= 0.05 and body["fnir"] == 0.0
    assert body["previous_threshold"] == 1.9 and body["threshold"] < 1.9
    far = (await helpers.identify(client, stranger, gallery="loose")).json()
    assert far["identity"] is None and far["threshold"] == pytest.approx(body["threshold"])
    known = (await helpers.identify(client, helpers.noisy("person-c", seed=7), gallery="loose")).json()
    assert known["identity"] == "person-c"
    read = (await client.get("/galleries/loose")).json()
    assert read["threshold"] == read["threshold_override"] == pytest.approx(body["threshold"])


async def test_calibrate_without_body_uses_the_card_default(helpers, client):
    await loose_gallery(helpers, client)
    body = (await client.post("/galleries/loose/calibrate")).json()
    assert body["target_fpir"] == 0.05  # the tiny card has no identification table


async def test_calibrate_default_follows_sg_identify_fpir(helpers, settings_factory):
    async with helpers.serving(settings_factory(identify_fpir=0.1)) as (_, client):
        await loose_gallery(helpers, client)
        body = (await client.post("/galleries/loose/calibrate", json={})).json()
    assert body["target_fpir"] == 0.1


@pytest.mark.parametrize(
    ("identities", "count", "target", "message"),
    [(4, 3, 0.2, "4 identities"), (5, 2, 0.05, "at least 20")],
)
async def test_calibrate_too_small_gallery_is_422_and_changes_nothing(
    helpers, client, identities, count, target, message
):
    await loose_gallery(helpers, client, identities=identities, count=count)
    response = await client.post("/galleries/loose/calibrate", json={"target_fpir": target})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "gallery_too_small" and message in error["message"]
    assert (await client.get("/galleries/loose")).json()["threshold_override"] == 1.9


@pytest.mark.parametrize("target", [0, 1, 1.5, "many"])
async def test_calibrate_target_out_of_range_is_validation_error(client, target):
    response = await client.post("/galleries/faces/calibrate", json={"target_fpir": target})
    assert response.status_code == 422 and response.json()["error"]["code"] == "validation_error"


async def test_calibrate_unknown_gallery_is_404(client):
    response = await client.post("/galleries/nobody/calibrate", json={})
    assert response.status_code == 404 and response.json()["error"]["code"] == "gallery_not_found"


async def test_calibrated_threshold_survives_a_restart(helpers, settings):
    async with helpers.serving(settings) as (_, client):
        await loose_gallery(helpers, client)
        calibrated = (await client.post("/galleries/loose/calibrate", json={"target_fpir": 0.1})).json()
    async with helpers.serving(settings) as (_, client):
        read = (await client.get("/galleries/loose")).json()
        far = (await helpers.identify(client, helpers.pattern("stranger"), gallery="loose")).json()
    assert read["threshold_override"] == pytest.approx(calibrated["threshold"])
    assert far["threshold"] == pytest.approx(calibrated["threshold"]) and far["identity"] is None


async def test_delete_threshold_returns_the_gallery_to_the_card(helpers, client):
    await loose_gallery(helpers, client)
    await client.post("/galleries/loose/calibrate", json={"target_fpir": 0.1})
    response = await client.delete("/galleries/loose/threshold")
    assert response.status_code == 200
    body = response.json()
    assert body["threshold_override"] is None and body["threshold"] == 0.5  # the tiny card's pair threshold
    assert (await client.get("/galleries/loose")).json()["threshold_override"] is None


async def test_delete_threshold_of_unknown_gallery_is_404(client):
    response = await client.delete("/galleries/nobody/threshold")
    assert response.status_code == 404 and response.json()["error"]["code"] == "gallery_not_found"


@pytest.mark.parametrize(
    ("target", "message"),
    [("0.05", "valid number"), (True, "valid number"), ("NaN", "valid number")],
)
async def test_calibrate_takes_only_a_json_number_as_target_and_changes_nothing(
    helpers, client, target, message
):
    await loose_gallery(helpers, client, identities=6, count=5)
    response = await client.post("/galleries/loose/calibrate", json={"target_fpir": target})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error" and message in error["message"]
    assert (await client.get("/galleries/loose")).json()["threshold_override"] == 1.9


async def test_calibrate_names_a_non_finite_target_as_such(helpers, client):
    await loose_gallery(helpers, client, identities=6, count=5)
    response = await client.post(
        "/galleries/loose/calibrate",
        content=b'{"target_fpir": NaN}',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 422 and "finite" in response.json()["error"]["message"]
