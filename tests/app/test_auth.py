"""API keys: every endpoint but /health and /ready needs a configured X-API-Key."""

from __future__ import annotations

import pytest

from app.auth import key_matches

PROTECTED = [
    ("GET", "/galleries"),
    ("POST", "/galleries"),
    ("GET", "/galleries/faces"),
    ("DELETE", "/galleries/faces"),
    ("POST", "/galleries/faces/calibrate"),
    ("DELETE", "/galleries/faces/threshold"),
    ("GET", "/galleries/faces/identities"),
    ("DELETE", "/galleries/faces/identities/alice"),
    ("DELETE", "/galleries/faces/references/1"),
    ("POST", "/enroll"),
    ("POST", "/identify"),
    ("POST", "/verify"),
    ("GET", "/metrics"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/redoc"),
]


def test_key_matches_only_configured_keys():
    assert key_matches("k2", ("k1", "k2"))
    assert not key_matches("k3", ("k1", "k2"))
    assert not key_matches("", ("k1",))


@pytest.fixture
async def keyed(helpers, settings_factory):
    async with helpers.serving(settings_factory(api_keys=("key-one", "key-two"))) as (_, client):
        yield client


@pytest.mark.parametrize(("method", "path"), PROTECTED)
async def test_protected_endpoint_without_key_returns_401(keyed, method, path):
    response = await keyed.request(method, path)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


@pytest.mark.parametrize(("method", "path"), PROTECTED)
async def test_protected_endpoint_with_wrong_key_returns_401(keyed, method, path):
    response = await keyed.request(method, path, headers={"X-API-Key": "key-three"})
    assert response.status_code == 401


async def test_protected_endpoint_with_any_configured_key_answers(keyed):
    for key in ("key-one", "key-two"):
        response = await keyed.get("/galleries", headers={"X-API-Key": key})
        assert response.status_code == 200


async def test_health_and_ready_are_open_without_key(keyed):
    assert (await keyed.get("/health")).status_code == 200
    assert (await keyed.get("/ready")).status_code == 200


async def test_no_keys_configured_leaves_endpoints_open(client):
    assert (await client.get("/galleries")).status_code == 200


async def test_upload_without_key_is_refused_before_its_body_is_read(keyed):
    files = {"images": ("big.png", b"\0" * 2_000_000, "image/png")}  # over the 1 MB cap as well
    response = await keyed.post("/enroll", data={"gallery": "faces", "identity": "a"}, files=files)
    assert response.status_code == 401


async def test_unknown_path_without_key_returns_401_not_404(keyed):
    assert (await keyed.get("/no-such-route")).status_code == 401
