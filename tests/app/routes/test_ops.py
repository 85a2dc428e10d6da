"""Operations routes: health, readiness with the execution provider, Prometheus metrics, error envelopes."""

from __future__ import annotations


async def test_health_returns_ok(client):
    response = await client.get("/health")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


async def test_ready_names_provider_per_model_and_open_galleries(client):
    response = await client.get("/ready")
    body = response.json()
    assert response.status_code == 200 and body["status"] == "ready"
    assert set(body["models"]) == {"faces", "toy"}
    assert body["models"]["faces"]["provider"] == "CPUExecutionProvider"
    index = {"kind": "flat", "references": 0, "building": False}
    assert body["galleries"] == {
        "faces": {"status": "ready", "model": "faces", "message": None, "index": index}
    }


async def test_metrics_exposes_requests_batches_queue_and_gallery_sizes(helpers, enrolled):
    await helpers.identify(enrolled, helpers.noisy("alice", seed=1))
    response = await enrolled.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'sg_http_requests_total{method="POST",route="/identify",status="200"} 1.0' in text
    assert 'sg_http_request_duration_seconds_count{method="POST",route="/enroll"} 4.0' in text
    assert 'sg_batch_size_count{model="faces"}' in text
    assert 'sg_queue_depth{model="faces"} 0.0' in text
    assert 'sg_gallery_identities{gallery="faces"} 4.0' in text
    assert 'sg_gallery_references{gallery="faces"} 8.0' in text


async def test_unknown_route_returns_404_envelope(client):
    response = await client.get("/nowhere")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


async def test_wrong_method_returns_405_envelope(client):
    response = await client.put("/health")
    assert response.status_code == 405 and response.json()["error"]["code"] == "method_not_allowed"


async def test_openapi_lists_every_endpoint(helpers, client):
    paths = set((await client.get("/openapi.json")).json()["paths"])
    assert {
        "/galleries",
        "/galleries/{name}",
        "/enroll",
        "/verify",
        "/identify",
        "/health",
        "/ready",
    } <= paths
    assert {
        "/galleries/{name}/identities",
        "/galleries/{name}/references/{reference_id}",
        "/metrics",
    } <= paths


async def test_openapi_declares_the_error_envelopes_statuses(client):
    schema = (await client.get("/openapi.json")).json()
    responses = schema["paths"]["/enroll"]["post"]["responses"]
    assert {"400", "413", "415", "422", "429", "500", "503", "507"} <= set(responses)
    assert "401" not in responses  # no key is configured here (tests/app/test_openapi.py has the keyed case)
    assert responses["415"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")
    assert "Retry-After" in responses["429"]["headers"]
