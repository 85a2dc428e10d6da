"""A multipart body cut off before its closing boundary is 400 `bad_request` and stores nothing, on every route
that reads a form, the identify hot path included; a route that reads no body is left alone."""

from __future__ import annotations

import pytest

from tests.support import multipart

HEADERS = {"content-type": "multipart/form-data; boundary=sg"}


def part(name: str, data: bytes, filename: str | None = None) -> bytes:
    return multipart.part(
        name, data, filename=filename, extra="" if filename is None else "Content-Type: image/png\r\n"
    )


def enroll_body(helpers) -> bytes:
    images = [helpers.png(helpers.noisy("alice", seed=i)) for i in range(3)]
    return (
        part("gallery", b"faces")
        + part("identity", b"alice")
        + b"".join(part("images", image, f"alice-{i}.png") for i, image in enumerate(images))
    )


# Where the upload stops: after whole parts, at the next part's first boundary (Starlette alone would hand the
# route every part that came), or in the middle of an image.
CUTS = {
    "after-a-boundary": lambda body: body + b"--sg\r\n",
    "mid-image": lambda body: body[: len(body) - 200],
    "no-closing-boundary": lambda body: body,
}


@pytest.mark.parametrize("cut", CUTS)
async def test_enroll_cut_off_before_its_closing_boundary_is_400_and_stores_nothing(helpers, client, cut):
    body = enroll_body(helpers)
    whole = await client.post("/enroll", content=body + b"--sg--\r\n", headers=HEADERS)
    assert whole.status_code == 201 and whole.json()["enrolled"] == 3  # the body itself is sound
    before = (await client.get("/galleries/faces")).json()["references"]
    response = await client.post("/enroll", content=CUTS[cut](body), headers=HEADERS)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "bad_request"
    assert "closing boundary" in response.json()["error"]["message"]
    assert (await client.get("/galleries/faces")).json()["references"] == before


@pytest.mark.parametrize("hot_path", [True, False])
async def test_identify_cut_off_before_its_closing_boundary_is_400(helpers, settings_factory, hot_path):
    body = part("gallery", b"faces") + part("image", helpers.png(helpers.noisy("alice", seed=9)), "a.png")
    async with helpers.serving(settings_factory(identify_hot_path=hot_path)) as (_, client):
        assert (await helpers.enroll(client, "alice")).status_code == 201
        whole = await client.post("/identify", content=body + b"--sg--\r\n", headers=HEADERS)
        assert whole.status_code == 200 and whole.json()["identity"] == "alice"
        for cut in CUTS.values():
            response = await client.post("/identify", content=cut(body), headers=HEADERS)
            assert response.status_code == 400 and response.json()["error"]["code"] == "bad_request"
            assert "closing boundary" in response.json()["error"]["message"]


async def test_a_route_that_reads_no_body_ignores_a_cut_off_form(client):
    response = await client.request("GET", "/galleries", content=part("gallery", b"faces"), headers=HEADERS)
    assert response.status_code == 200


async def test_an_epilogue_after_the_closing_boundary_is_fine(helpers, client):
    body = enroll_body(helpers) + b"--sg--\r\nan epilogue, which RFC 2046 allows\r\n"
    response = await client.post("/enroll", content=body, headers=HEADERS)
    assert response.status_code == 201 and response.json()["enrolled"] == 3


async def test_an_empty_multipart_body_is_the_routes_to_answer(client):
    response = await client.post("/enroll", content=b"", headers=HEADERS)
    assert response.status_code == 422 and response.json()["error"]["code"] == "validation_error"


async def test_a_json_route_answers_a_cut_off_form_itself(client):
    response = await client.post("/galleries", content=part("name", b"shelf"), headers=HEADERS)
    assert response.status_code == 422 and response.json()["error"]["code"] == "validation_error"
    assert (await client.get("/galleries/shelf")).status_code == 404
