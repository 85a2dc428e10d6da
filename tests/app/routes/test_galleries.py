"""Gallery routes: default galleries at start-up, create, list, read, delete, and their error codes."""

from __future__ import annotations

import pytest


async def test_startup_creates_default_gallery_only_for_present_models(client):
    response = await client.get("/galleries")
    assert response.status_code == 200
    names = [g["name"] for g in response.json()["galleries"]]
    assert names == ["faces"]  # `bodyparts` and `defects` have no model here


async def test_read_gallery_returns_binding_threshold_and_counts(client, models_dir):
    body = (await client.get("/galleries/faces")).json()
    card_sha = (models_dir / "faces.json").read_text().split('"onnx_sha256": "')[1][:64]
    assert body["model"] == "faces" and body["model_sha256"] == card_sha
    assert body["threshold"] == 0.5 and body["threshold_override"] is None
    assert (body["identities"], body["references"], body["status"]) == (0, 0, "ready")


async def test_create_gallery_returns_201_and_the_gallery(client):
    response = await client.post("/galleries", json={"name": "staff-2", "model": "toy"})
    assert response.status_code == 201
    assert response.json()["name"] == "staff-2" and response.json()["model"] == "toy"
    names = [g["name"] for g in (await client.get("/galleries")).json()["galleries"]]
    assert names == ["faces", "staff-2"]


async def test_create_gallery_threshold_overrides_card(client):
    response = await client.post("/galleries", json={"name": "strict", "model": "toy", "threshold": 0.25})
    assert response.json()["threshold"] == 0.25 and response.json()["threshold_override"] == 0.25


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"name": "../x", "model": "toy"}, 422, "invalid_gallery_name"),
        ({"name": "Upper", "model": "toy"}, 422, "invalid_gallery_name"),
        ({"name": "ok", "model": "nope"}, 404, "model_not_found"),
        ({"name": "faces", "model": "toy"}, 409, "gallery_exists"),
        ({"model": "toy"}, 422, "validation_error"),
        ({"name": "ok", "model": "toy", "threshold": 3.0}, 422, "validation_error"),
        ({"name": "ok", "model": "toy", "threshold": True}, 422, "validation_error"),
        ({"name": "ok", "model": "toy", "threshold": "0.5"}, 422, "validation_error"),
    ],
)
async def test_create_gallery_bad_request_returns_stable_code_and_changes_nothing(client, body, status, code):
    response = await client.post("/galleries", json=body)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    names = [g["name"] for g in (await client.get("/galleries")).json()["galleries"]]
    assert names == ["faces"]


@pytest.mark.parametrize("value", [b"NaN", b"Infinity", b"1e999"])
async def test_create_gallery_names_a_non_finite_threshold_as_such(client, value):
    body = b'{"name": "ok", "model": "toy", "threshold": ' + value + b"}"
    response = await client.post("/galleries", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422 and "finite" in response.json()["error"]["message"]
    assert [g["name"] for g in (await client.get("/galleries")).json()["galleries"]] == ["faces"]


async def test_read_gallery_unknown_returns_404(client):
    response = await client.get("/galleries/missing")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "gallery_not_found"


async def test_delete_gallery_removes_it(client):
    await client.post("/galleries", json={"name": "temp", "model": "toy"})
    response = await client.delete("/galleries/temp")
    assert response.status_code == 200 and response.json() == {"gallery": "temp", "deleted": True}
    assert (await client.get("/galleries/temp")).status_code == 404
    assert (await client.delete("/galleries/temp")).json()["error"]["code"] == "gallery_not_found"


async def test_list_and_ready_during_a_gallery_delete_leave_it_out(service, monkeypatch):
    app, client = service
    registry = app.state.runtime.registry

    def then_delete(listing):
        def listed():
            found = listing()
            if "gone" in registry:
                registry.delete("gone")  # a DELETE landing between the listing and the reads that follow it
            return found

        return listed

    monkeypatch.setattr(registry, "list", then_delete(registry.list))  # GET /galleries lists infos
    monkeypatch.setattr(registry, "names", then_delete(registry.names))  # /ready lists names
    for path in ("/galleries", "/ready"):
        await client.post("/galleries", json={"name": "gone", "model": "toy"})
        response = await client.get(path)
        assert response.status_code == 200, response.text
        body = response.json()
        names = [g["name"] for g in body["galleries"]] if path == "/galleries" else list(body["galleries"])
        assert names == ["faces"]


async def test_create_gallery_whole_number_threshold_is_a_number(client):
    response = await client.post("/galleries", json={"name": "whole", "model": "toy", "threshold": 1})
    assert response.status_code == 201 and response.json()["threshold_override"] == 1.0
