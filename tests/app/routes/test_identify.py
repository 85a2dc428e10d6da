"""Identify route: known answers, unknown, thresholds, ambiguity, batching, overload and failed batches."""

from __future__ import annotations

import asyncio
import threading

import numpy as np

from app.errors import BatchFailed
from tests.support.locks import held_elsewhere


async def test_identify_enrolled_identity_returns_it_with_candidates(helpers, enrolled):
    body = (await helpers.identify(enrolled, helpers.noisy("bob", seed=50))).json()
    assert body["identity"] == "bob" and body["match"] is True and body["ambiguous"] is False
    assert body["distance"] < body["threshold"] == 0.5
    names = [c["identity"] for c in body["candidates"]]
    assert names[0] == "bob" and sorted(names) == sorted(helpers.IDENTITIES)  # one row per identity
    distances = [c["distance"] for c in body["candidates"]]
    assert distances == sorted(distances)


async def test_identify_far_image_returns_unknown(helpers, enrolled):
    body = (await helpers.identify(enrolled, helpers.pattern("stranger"))).json()
    assert body["identity"] is None and body["match"] is False
    assert body["distance"] > body["threshold"]
    assert len(body["candidates"]) == len(helpers.IDENTITIES)


async def test_identify_top_k_limits_candidates(helpers, enrolled):
    response = await enrolled.post(
        "/identify",
        data={"gallery": "faces", "top_k": "2"},
        files={"image": helpers.image_file(helpers.noisy("dave", seed=3))},
    )
    assert [c["identity"] for c in response.json()["candidates"]][0] == "dave"
    assert len(response.json()["candidates"]) == 2


async def test_identify_empty_gallery_returns_unknown_without_candidates(helpers, client):
    body = (await helpers.identify(client, helpers.pattern("alice"))).json()
    assert body == {
        "identity": None,
        "distance": None,
        "threshold": 0.5,
        "match": False,
        "ambiguous": False,
        "candidates": [],
        "face": None,
    }


async def test_identify_uses_gallery_threshold_override(helpers, client):
    await client.post("/galleries", json={"name": "strict", "model": "toy", "threshold": 0.0})
    await helpers.enroll(client, "alice", gallery="strict")
    body = (await helpers.identify(client, helpers.noisy("alice", seed=70), gallery="strict")).json()
    assert body["threshold"] == 0.0 and body["identity"] is None
    assert body["candidates"][0]["identity"] == "alice"


async def test_identify_two_near_identities_is_ambiguous(helpers, client):
    twin = helpers.noisy("alice", seed=99, amount=4)
    await client.post(
        "/enroll",
        data={"gallery": "faces", "identity": "alice"},
        files={"images": helpers.image_file(helpers.pattern("alice"))},
    )
    await client.post(
        "/enroll",
        data={"gallery": "faces", "identity": "alice-twin"},
        files={"images": helpers.image_file(twin)},
    )
    body = (await helpers.identify(client, helpers.noisy("alice", seed=5, amount=2))).json()
    assert body["match"] is True and body["ambiguous"] is True
    assert {c["identity"] for c in body["candidates"]} == {"alice", "alice-twin"}


async def test_identify_top_k_1_still_reports_a_runner_up_within_margin_as_ambiguous(helpers, client):
    for name in ("alice", "alice-twin"):  # the same image under two identities: distance 0 apart
        await client.post(
            "/enroll",
            data={"gallery": "faces", "identity": name},
            files={"images": helpers.image_file(helpers.pattern("alice"))},
        )
    response = await client.post(
        "/identify",
        data={"gallery": "faces", "top_k": "1"},
        files={"image": helpers.image_file(helpers.noisy("alice", seed=5, amount=2))},
    )
    body = response.json()
    assert body["match"] is True and body["ambiguous"] is True
    assert len(body["candidates"]) == 1


async def test_identify_32_concurrent_requests_are_correct_and_batched(helpers, enrolled, service):
    app, _ = service
    batcher = app.state.runtime.batchers["faces"]
    batches_before, items_before = batcher.batches_run, batcher.items_run
    names = [helpers.IDENTITIES[i % len(helpers.IDENTITIES)] for i in range(32)]
    responses = await asyncio.gather(
        *(helpers.identify(enrolled, helpers.noisy(n, seed=200 + i)) for i, n in enumerate(names))
    )
    assert [r.json()["identity"] for r in responses] == names
    assert batcher.items_run - items_before == 32
    assert batcher.batches_run - batches_before < 32
    assert batcher.max_batch_seen > 1


async def test_identify_when_queue_full_returns_429_with_retry_after(helpers, settings_factory):
    settings = settings_factory(max_batch=1, max_wait_ms=0, queue_size=1, max_images_per_request=1)
    async with helpers.serving(settings) as (app, client):
        batcher = app.state.runtime.batchers["faces"]
        gate = threading.Event()
        batcher.executor.submit(gate.wait, 10)  # the model thread is busy
        item = np.zeros((1, helpers.SIDE, helpers.SIDE), dtype=np.float32)
        held = batcher.enqueue([item])  # taken by the worker, waiting for the model thread
        while batcher.queue_depth:
            await asyncio.sleep(0.001)
        queued = batcher.enqueue([item])  # the queue (size 1) is now full
        try:
            response = await helpers.identify(client, helpers.pattern("alice"))
        finally:
            gate.set()
        assert response.status_code == 429
        assert response.headers["Retry-After"] == "1"
        assert response.json()["error"]["code"] == "overloaded"
        await asyncio.wait_for(asyncio.gather(*held, *queued), timeout=10)
        assert (await helpers.identify(client, helpers.pattern("alice"))).status_code == 200


async def test_requests_when_queue_full_are_refused_before_their_images_are_decoded(
    helpers, settings_factory
):
    settings = settings_factory(max_batch=1, max_wait_ms=0, queue_size=1, max_images_per_request=1)
    undecodable = {"image": ("x.jpg", b"not an image: decoding it would answer 422", "image/jpeg")}
    async with helpers.serving(settings) as (app, client):
        batcher = app.state.runtime.batchers["faces"]
        gate = threading.Event()
        batcher.executor.submit(gate.wait, 10)
        item = np.zeros((1, helpers.SIDE, helpers.SIDE), dtype=np.float32)
        held = batcher.enqueue([item])
        while batcher.queue_depth:
            await asyncio.sleep(0.001)
        queued = batcher.enqueue([item])
        try:
            identify = await client.post("/identify", data={"gallery": "faces"}, files=undecodable)
            enroll = await client.post(
                "/enroll",
                data={"gallery": "faces", "identity": "eve"},
                files={"images": undecodable["image"]},
            )
        finally:
            gate.set()
        for response in (identify, enroll):
            assert response.status_code == 429 and response.json()["error"]["code"] == "overloaded"
        await asyncio.wait_for(asyncio.gather(*held, *queued), timeout=10)
        response = await client.post("/identify", data={"gallery": "faces"}, files=undecodable)
        assert response.status_code == 422 and response.json()["error"]["code"] == "bad_image"


async def test_identify_one_pixel_wide_png_returns_413_image_too_large(helpers, settings_factory):
    settings = settings_factory(max_image_pixels=40_000_000)
    tall = helpers.flat_png(1, 40_000_000)
    async with helpers.serving(settings) as (_, client):
        response = await client.post(
            "/identify", data={"gallery": "faces"}, files={"image": ("tall.png", tall, "image/png")}
        )
        assert response.status_code == 413 and response.json()["error"]["code"] == "image_too_large"
        assert "SG_MAX_IMAGE_SIDE" in response.json()["error"]["message"]


async def test_identify_in_failed_batch_fails_with_it_and_service_recovers(helpers, settings_factory):
    settings = settings_factory(max_batch=2, max_wait_ms=10_000)
    async with helpers.serving(settings) as (app, client):
        batcher = app.state.runtime.batchers["faces"]
        wrong = batcher.enqueue(
            [np.zeros((1, helpers.SIDE // 2, helpers.SIDE // 2), dtype=np.float32)]
        )  # wrong shape
        response = await asyncio.wait_for(helpers.identify(client, helpers.pattern("alice")), timeout=10)
        assert response.status_code == 500
        assert response.json()["error"]["code"] == "inference_failed"
        assert isinstance(wrong[0].exception(), BatchFailed)
        assert batcher.batches_failed == 1
        pair = await asyncio.gather(
            helpers.identify(client, helpers.pattern("alice")),
            helpers.identify(client, helpers.pattern("bob")),
        )
        assert [r.status_code for r in pair] == [200, 200]


async def test_identify_unknown_gallery_returns_404(helpers, client):
    response = await helpers.identify(client, helpers.pattern("alice"), gallery="nope")
    assert response.status_code == 404 and response.json()["error"]["code"] == "gallery_not_found"


async def test_identify_missing_image_returns_422(helpers, client):
    response = await client.post("/identify", data={"gallery": "faces"})
    assert response.status_code == 422 and response.json()["error"]["code"] == "validation_error"


async def test_identify_text_as_jpeg_returns_422_bad_image(helpers, client):
    files = {"image": ("x.jpg", b"hello, I am text", "image/jpeg")}
    response = await client.post("/identify", data={"gallery": "faces"}, files=files)
    assert response.status_code == 422 and response.json()["error"]["code"] == "bad_image"
    assert (await client.get("/health")).status_code == 200


async def test_identify_gallery_busy_with_a_write_holds_up_neither_the_model_nor_other_galleries(
    helpers, service, enrolled
):
    app, client = service
    await client.post("/galleries", json={"name": "other", "model": "faces"})  # same model, same batcher
    await helpers.enroll(client, "alice", gallery="other")
    gallery = app.state.runtime.registry.get("faces")
    with held_elsewhere(gallery._lock):  # what an index rebuild holds
        batcher = app.state.runtime.batchers["faces"]
        before = batcher.items_run
        pending = asyncio.ensure_future(helpers.identify(client, helpers.noisy("bob", seed=50)))
        async with asyncio.timeout(5):
            while batcher.items_run == before:  # its batch has reached the model
                await asyncio.sleep(0.005)
        other = await asyncio.wait_for(
            helpers.identify(client, helpers.noisy("alice", seed=5), gallery="other"), timeout=5
        )
        assert other.json()["identity"] == "alice"
        assert not pending.done()  # waits for the write, on a worker thread
    assert (await asyncio.wait_for(pending, timeout=10)).json()["identity"] == "bob"


async def test_identify_gallery_held_past_the_busy_wait_answers_503_gallery_busy(helpers, settings_factory):
    settings = settings_factory(gallery_busy_wait_s=0.3)
    async with helpers.serving(settings) as (app, client):
        await helpers.enroll(client, "bob")
        gallery = app.state.runtime.registry.get("faces")
        with held_elsewhere(gallery._lock):  # a write that never ends
            started = asyncio.get_running_loop().time()
            response = await asyncio.wait_for(helpers.identify(client, helpers.noisy("bob", seed=50)), 10)
            waited = asyncio.get_running_loop().time() - started
        assert response.status_code == 503 and response.json()["error"]["code"] == "gallery_busy"
        assert 0.3 <= waited < 5
        assert (await helpers.identify(client, helpers.noisy("bob", seed=50))).json()["identity"] == "bob"
