"""HTTP as clients expect it: HEAD on every GET route, an Allow header naming every method of a path, no
redirects for trailing slashes, compressed bodies refused, and identities no URL can name refused at enroll."""

from __future__ import annotations

import gzip

import pytest


async def test_head_answers_the_get_status_and_headers_without_the_body(client):
    get = await client.get("/galleries")
    head = await client.head("/galleries")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == get.headers["content-length"] == str(len(get.content))
    assert head.headers["content-type"] == "application/json"
    assert (await client.head("/health")).status_code == 200
    assert (await client.head("/galleries/nope")).status_code == 404


async def test_head_needs_the_key_like_get(settings_factory, helpers):
    async with helpers.serving(settings_factory(api_keys=("secret",))) as (_, client):
        assert (await client.head("/galleries")).status_code == 401
        assert (await client.head("/galleries", headers={"X-API-Key": "secret"})).status_code == 200
        assert (await client.head("/health")).status_code == 200


@pytest.mark.parametrize(
    ("path", "allowed"),
    [("/galleries", "GET, HEAD, POST"), ("/galleries/faces", "DELETE, GET, HEAD")],
)
async def test_method_not_allowed_names_every_method_of_the_path(client, path, allowed):
    response = await client.put(path, json={})
    assert response.status_code == 405 and response.json()["error"]["code"] == "method_not_allowed"
    assert response.headers["allow"] == allowed


@pytest.mark.parametrize("path", ["/galleries/", "/galleries/faces/", "/identify/"])
async def test_a_trailing_slash_is_not_found_never_redirected(client, path):
    response = await client.post(path, data={"gallery": "faces"})
    assert response.status_code in (404, 405) and "location" not in response.headers
    assert (await client.delete("/galleries/faces/")).status_code in (404, 405)
    assert (await client.get("/galleries/faces")).status_code == 200  # still there


async def test_a_compressed_body_is_refused_and_stores_nothing(client, helpers):
    name, data, kind = helpers.image_file(helpers.noisy("alice", seed=0))
    plain = await client.post(
        "/galleries", json={"name": "zipped", "model": "toy"}, headers={"Content-Encoding": "identity"}
    )
    assert plain.status_code == 201
    body = gzip.compress(b'{"name": "zipped-2", "model": "toy"}')
    for encoding in ("gzip", "br", "GZIP"):
        response = await client.post(
            "/galleries",
            content=body,
            headers={"Content-Encoding": encoding, "Content-Type": "application/json"},
        )
        assert response.status_code == 415
        assert response.json()["error"]["code"] == "unsupported_content_encoding"
    names = [g["name"] for g in (await client.get("/galleries")).json()["galleries"]]
    assert "zipped-2" not in names


@pytest.mark.parametrize("identity", [".", "..", " ", "   ", " Ada", "Ada ", "\u00a0Ada"])
async def test_identities_no_url_can_name_or_padded_with_white_space_are_refused(client, helpers, identity):
    response = await helpers.enroll(client, identity)
    assert response.status_code == 422 and response.json()["error"]["code"] == "bad_identity"
    assert (await client.get("/galleries/faces")).json()["identities"] == 0


async def test_an_identity_with_dots_inside_is_still_fine(client, helpers):
    for identity in ("...", ".a", "a..b"):
        assert (await helpers.enroll(client, identity)).status_code == 201


@pytest.mark.parametrize("identity", ["../../faces", "a/..", "x/./y", "a\\..\\b", "%2e%2E/x", "a/.%2E"])
async def test_identities_with_a_dot_segment_are_refused(client, helpers, identity):
    response = await helpers.enroll(client, identity)
    assert response.status_code == 422 and response.json()["error"]["code"] == "bad_identity"
    assert (await client.get("/galleries/faces")).json()["identities"] == 0


async def test_a_content_encoding_on_a_request_without_a_body_is_no_matter(client):
    assert (await client.get("/galleries", headers={"Content-Encoding": "gzip"})).status_code == 200


async def test_head_requests_are_counted_under_their_route(client):
    await client.head("/galleries")
    metrics = (await client.get("/metrics")).text
    assert 'method="HEAD",route="/galleries",status="200"' in metrics
