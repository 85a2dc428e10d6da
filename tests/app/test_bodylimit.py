"""The request body cap: declared and streamed bodies over SG_MAX_UPLOAD_MB get 413 payload_too_large."""

from __future__ import annotations


async def test_declared_body_over_cap_returns_413(client):
    files = {"images": ("big.png", b"\0" * 1_100_000, "image/png")}
    response = await client.post("/enroll", data={"gallery": "faces", "identity": "a"}, files=files)
    assert response.status_code == 413 and response.json()["error"]["code"] == "payload_too_large"


async def test_streamed_body_over_cap_returns_413(client):
    async def chunks():
        yield b'--xyz\r\nContent-Disposition: form-data; name="images"; filename="a.png"\r\n\r\n'
        for _ in range(20):
            yield b"\0" * 100_000

    headers = {"content-type": "multipart/form-data; boundary=xyz"}
    response = await client.post("/enroll", content=chunks(), headers=headers)
    assert response.status_code == 413 and response.json()["error"]["code"] == "payload_too_large"


async def test_body_under_cap_passes(helpers, client):
    files = {"images": helpers.image_file(helpers.noisy("a", seed=1))}
    response = await client.post("/enroll", data={"gallery": "faces", "identity": "a"}, files=files)
    assert response.status_code == 201
