"""Verify route: same or different under a model's card or a gallery's model and threshold."""

from __future__ import annotations

import pytest


def pair(helpers, a, b) -> dict:
    return {"image_a": helpers.image_file(a, "a.png"), "image_b": helpers.image_file(b, "b.png")}


async def test_verify_same_identity_with_model_matches(helpers, client):
    response = await client.post(
        "/verify",
        data={"model": "toy"},
        files=pair(helpers, helpers.noisy("ann", seed=1), helpers.noisy("ann", seed=2)),
    )
    body = response.json()
    assert response.status_code == 200
    assert body["match"] is True and body["model"] == "toy" and body["threshold"] == 0.5
    assert 0.0 < body["distance"] < 0.5


async def test_verify_different_identities_do_not_match(helpers, client):
    response = await client.post(
        "/verify", data={"model": "toy"}, files=pair(helpers, helpers.pattern("ann"), helpers.pattern("ben"))
    )
    assert response.json()["match"] is False and response.json()["distance"] > 1.0


async def test_verify_identical_images_have_zero_distance(helpers, client):
    response = await client.post(
        "/verify",
        data={"model": "faces"},
        files=pair(helpers, helpers.pattern("ann"), helpers.pattern("ann")),
    )
    assert response.json()["distance"] == pytest.approx(0.0, abs=1e-5)


async def test_verify_with_gallery_uses_its_model_and_threshold(helpers, client):
    await client.post("/galleries", json={"name": "strict", "model": "toy", "threshold": 0.01})
    files = pair(helpers, helpers.noisy("ann", seed=1), helpers.noisy("ann", seed=2))
    body = (await client.post("/verify", data={"gallery": "strict"}, files=files)).json()
    assert body["model"] == "toy" and body["threshold"] == 0.01 and body["match"] is False


@pytest.mark.parametrize(
    ("form", "status", "code"),
    [
        ({}, 422, "validation_error"),
        ({"model": "toy", "gallery": "faces"}, 422, "validation_error"),
        ({"model": "nope"}, 404, "model_not_found"),
        ({"gallery": "nope"}, 404, "gallery_not_found"),
        ({"gallery": "../x"}, 422, "invalid_gallery_name"),
    ],
)
async def test_verify_bad_choice_of_model_or_gallery_returns_stable_code(helpers, client, form, status, code):
    response = await client.post(
        "/verify", data=form, files=pair(helpers, helpers.pattern("ann"), helpers.pattern("ann"))
    )
    assert response.status_code == status
    assert response.json()["error"]["code"] == code


async def test_verify_missing_second_image_returns_422(helpers, client):
    files = {"image_a": helpers.image_file(helpers.pattern("ann"))}
    response = await client.post("/verify", data={"model": "toy"}, files=files)
    assert response.status_code == 422 and response.json()["error"]["code"] == "validation_error"


async def test_verify_image_against_enrolled_identity_matches_its_own(helpers, enrolled):
    files = {"image": helpers.image_file(helpers.noisy("alice", seed=77))}
    body = (
        await enrolled.post("/verify", data={"gallery": "faces", "identity": "alice"}, files=files)
    ).json()
    assert body["match"] is True and body["identity"] == "alice" and body["references"] == 2
    assert body["distance"] <= body["threshold"]


async def test_verify_image_against_another_identity_does_not_match(helpers, enrolled):
    files = {"image": helpers.image_file(helpers.noisy("alice", seed=77))}
    body = (await enrolled.post("/verify", data={"gallery": "faces", "identity": "bob"}, files=files)).json()
    assert body["match"] is False and body["distance"] > body["threshold"]


async def test_verify_against_unknown_identity_is_404(helpers, enrolled):
    files = {"image": helpers.image_file(helpers.pattern("alice"))}
    response = await enrolled.post("/verify", data={"gallery": "faces", "identity": "nobody"}, files=files)
    assert response.status_code == 404 and response.json()["error"]["code"] == "identity_not_found"


async def test_verify_identity_form_needs_a_gallery_and_nothing_of_the_pair_form(helpers, enrolled):
    image = helpers.image_file(helpers.pattern("alice"))
    no_gallery = await enrolled.post("/verify", data={"identity": "alice"}, files={"image": image})
    mixed = await enrolled.post(
        "/verify", data={"gallery": "faces", "identity": "alice"}, files={"image": image, "image_a": image}
    )
    for response in (no_gallery, mixed):
        assert response.status_code == 422 and response.json()["error"]["code"] == "validation_error"


async def test_verify_image_sent_twice_returns_422_duplicate_field(helpers, client):
    files = [
        ("image_a", helpers.image_file(helpers.pattern("ann"))),
        ("image_a", helpers.image_file(helpers.pattern("ben"))),
        ("image_b", helpers.image_file(helpers.pattern("ann"))),
    ]
    response = await client.post("/verify", data={"model": "toy"}, files=files)
    assert response.status_code == 422 and response.json()["error"]["code"] == "duplicate_field"


async def test_the_forms_the_document_declares_are_the_ones_verify_takes(helpers, enrolled):
    """Each `oneOf` branch of the declared body, sent with just its fields, is answered; two branches at once
    (a form that matches both) or none is refused, as the schema says."""
    schema = (await enrolled.get("/openapi.json")).json()
    body = schema["paths"]["/verify"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    forms = [set(branch["required"]) for branch in body["oneOf"]]
    image = helpers.image_file(helpers.noisy("alice", seed=70))
    fields = {"gallery": "faces", "model": "faces", "identity": "alice"}

    def request(names: set[str]) -> dict:
        files = [(n, image) for n in sorted(names) if n.startswith("image")]
        return {"data": {n: fields[n] for n in names if n in fields}, "files": files}

    for form in forms:
        response = await enrolled.post("/verify", **request(form))
        assert response.status_code == 200, (form, response.text)
    for first, second in [(0, 1), (0, 2), (1, 2)]:
        response = await enrolled.post("/verify", **request(forms[first] | forms[second]))
        assert response.status_code == 422 and response.json()["error"]["code"] == "validation_error"
    assert (await enrolled.post("/verify", **request({"gallery", "image_a"}))).status_code == 422
