"""Enroll route: multi-image enroll, metadata, and every bad input refused with nothing stored."""

from __future__ import annotations

import pytest


async def counts(client, gallery: str = "faces") -> tuple[int, int]:
    body = (await client.get(f"/galleries/{gallery}")).json()
    return body["identities"], body["references"]


async def test_enroll_several_images_in_one_call_stores_all(helpers, service):
    app, client = service
    batcher = app.state.runtime.batchers["faces"]
    response = await helpers.enroll(client, "alice", count=5)
    assert response.status_code == 201
    body = response.json()
    assert body["gallery"] == "faces" and body["identity"] == "alice" and body["enrolled"] == 5
    assert len(set(body["reference_ids"])) == 5
    assert batcher.items_run == 5 and batcher.batches_run == 1  # embedded in one go
    assert await counts(client) == (1, 5)


async def test_enroll_same_identity_again_adds_references(helpers, client):
    await helpers.enroll(client, "alice", count=2)
    await helpers.enroll(client, "alice", count=1)
    assert await counts(client) == (1, 3)


async def test_enroll_metadata_is_stored_with_identity(helpers, client):
    response = await helpers.enroll(client, "alice", metadata='{"team": "red", "level": 3}')
    assert response.status_code == 201
    page = (await client.get("/galleries/faces/identities")).json()
    assert page["identities"][0]["metadata"] == {"team": "red", "level": 3}


def bad_file(helpers, kind: str) -> tuple[str, bytes, str]:
    payloads = {
        "truncated": ("a.jpg", helpers.truncated_jpeg(), "image/jpeg"),
        "empty": ("a.jpg", b"", "image/jpeg"),
        "text": ("a.jpg", b"this is plain text, not a JPEG\n" * 20, "image/jpeg"),
        "bomb": ("bomb.png", helpers.bomb_png(100_000, 100_000), "image/png"),
        "oversized": ("big.png", helpers.png(helpers.pattern("big")) + b"\0" * 1_200_000, "image/png"),
    }
    return payloads[kind]


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [
        ("truncated", 422, "bad_image"),
        ("empty", 422, "bad_image"),
        ("text", 422, "bad_image"),
        ("bomb", 413, "image_too_large"),
        ("oversized", 413, "payload_too_large"),
    ],
)
async def test_enroll_bad_image_among_good_ones_stores_nothing(helpers, enrolled, kind, status, code):
    before = await counts(enrolled)
    files = [
        ("images", helpers.image_file(helpers.noisy("erin", seed=1))),
        ("images", bad_file(helpers, kind)),
    ]
    response = await enrolled.post("/enroll", data={"gallery": "faces", "identity": "erin"}, files=files)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert await counts(enrolled) == before
    assert (await helpers.identify(enrolled, helpers.noisy("alice", seed=9))).json()["identity"] == "alice"


@pytest.mark.parametrize(
    ("form", "status", "code"),
    [
        ({"gallery": "../x", "identity": "erin"}, 422, "invalid_gallery_name"),
        ({"gallery": "nope", "identity": "erin"}, 404, "gallery_not_found"),
        ({"gallery": "faces"}, 422, "validation_error"),
        ({"gallery": "faces", "identity": "x" * 129}, 422, "bad_identity"),
        ({"gallery": "faces", "identity": "bad\nname"}, 422, "bad_identity"),
        ({"gallery": "faces", "identity": "erin", "metadata": "not json"}, 422, "bad_metadata"),
        ({"gallery": "faces", "identity": "erin", "metadata": "[1, 2]"}, 422, "bad_metadata"),
        ({"gallery": "faces", "identity": "erin", "metadata": '{"x": NaN}'}, 422, "bad_metadata"),
        ({"gallery": ["faces", "nope"], "identity": "erin"}, 422, "duplicate_field"),
        ({"gallery": ["nope", "faces"], "identity": "erin"}, 422, "duplicate_field"),
        ({"gallery": "faces", "identity": ["erin", "erin"]}, 422, "duplicate_field"),
        ({"gallery": "faces", "identity": b"\xe9rin"}, 422, "bad_encoding"),  # Latin-1, not UTF-8
        ({"gallery": "faces", "identity": "erin", "metadata": b'{"a": "\xff"}'}, 422, "bad_encoding"),
    ],
)
async def test_enroll_bad_form_returns_stable_code_and_stores_nothing(helpers, enrolled, form, status, code):
    before = await counts(enrolled)
    files = [("images", helpers.image_file(helpers.noisy("erin", seed=1)))]
    response = await enrolled.post("/enroll", data=form, files=files)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert await counts(enrolled) == before


async def test_enroll_without_images_returns_422(helpers, client):
    response = await client.post("/enroll", data={"gallery": "faces", "identity": "erin"})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"


async def test_enroll_more_images_than_allowed_returns_422_too_many_images(helpers, client):
    files = [("images", helpers.image_file(helpers.noisy("erin", seed=i))) for i in range(17)]
    response = await client.post("/enroll", data={"gallery": "faces", "identity": "erin"}, files=files)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "too_many_images"
    assert await counts(client) == (0, 0)


@pytest.mark.parametrize("depth", [300, 100_000])
async def test_enroll_metadata_nested_too_deep_returns_422_and_listing_still_answers(helpers, client, depth):
    metadata = '{"a": ' + "[" * depth + "]" * depth + "}"
    files = [("images", helpers.image_file(helpers.noisy("erin", seed=1)))]
    form = {"gallery": "faces", "identity": "erin", "metadata": metadata}
    response = await client.post("/enroll", data=form, files=files)
    assert response.status_code == 422 and response.json()["error"]["code"] == "bad_metadata"
    assert await counts(client) == (0, 0)
    assert (await client.get("/galleries/faces/identities")).status_code == 200


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("metadata", '{"a": "\\ud800"}', "bad_metadata"),
        ("metadata", '{"\\udc00": 1}', "bad_metadata"),
        ("metadata", '{"a": {"b": ["ok", "x\\udbff"]}}', "bad_metadata"),
        ("identity", b"er\xed\xa0\x80in", "bad_encoding"),  # a surrogate encoded as bytes: not UTF-8
    ],
)
async def test_enroll_lone_surrogate_returns_422_json_error_and_stores_nothing(
    helpers, enrolled, field, value, code
):
    before = await counts(enrolled)
    form = {"gallery": "faces", "identity": "erin", field: value}
    files = [("images", helpers.image_file(helpers.noisy("erin", seed=1)))]
    response = await enrolled.post("/enroll", data=form, files=files)
    assert response.status_code == 422, response.text
    assert set(response.json()) == {"error"} and response.json()["error"]["code"] == code
    assert response.json()["error"]["message"]
    assert await counts(enrolled) == before
    assert (await enrolled.get("/galleries/faces/identities")).status_code == 200


async def test_enroll_utf8_identity_is_stored_as_sent(helpers, client):
    files = [("images", helpers.image_file(helpers.noisy("erin", seed=1)))]
    form = {"gallery": "faces", "identity": "Érin".encode()}
    response = await client.post("/enroll", data=form, files=files)
    assert response.status_code == 201 and response.json()["identity"] == "Érin"
