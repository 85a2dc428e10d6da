"""POST /identify read below FastAPI's router: the same answers and errors as the FastAPI route, request by
request, with the plain form read by the hot path and everything else passed on to the route."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from app.settings import Settings
from tests.support import multipart

PNG = "image/png"


def cases(helpers) -> list[tuple[str, dict[str, Any], str]]:
    """(name, httpx request arguments, which reader should take it: "hot_path" or "route")."""
    probe = helpers.png(helpers.noisy("bob", seed=50))
    image = {"image": ("probe.png", probe, PNG)}
    text = {"image": ("x.jpg", b"hello, I am text", "image/jpeg")}
    tall = {"image": ("tall.png", helpers.flat_png(1, 40_000_000), PNG)}
    return [
        ("plain", {"data": {"gallery": "faces"}, "files": image}, "hot_path"),
        # identify reads no query: a repeated parameter is ignored on both readers, as any unknown one is
        (
            "query-repeated",
            {"data": {"gallery": "faces"}, "files": image, "params": [("x", "1"), ("x", "2")]},
            "hot_path",
        ),
        ("top-k", {"data": {"gallery": "faces", "top_k": "2"}, "files": image}, "hot_path"),
        ("top-k-100", {"data": {"gallery": "faces", "top_k": "100"}, "files": image}, "hot_path"),
        ("unknown-field", {"data": {"gallery": "faces", "note": "x"}, "files": image}, "hot_path"),
        ("empty-filename", raw_form(("gallery", None, b"faces"), ("image", "", probe)), "hot_path"),
        ("no-filename", raw_form(("gallery", None, b"faces"), ("image", None, probe)), "route"),
        ("browser-no-file-chosen", raw_form(("gallery", None, b"faces"), ("image", "", b"")), "route"),
        (
            "top-k-as-file",
            raw_form(("gallery", None, b"faces"), ("top_k", "k", b"2"), ("image", "a", probe)),
            "route",
        ),
        ("top-k-long", {"data": {"gallery": "faces", "top_k": "0" * 5000 + "2"}, "files": image}, "route"),
        ("unknown-gallery", {"data": {"gallery": "nope"}, "files": image}, "hot_path"),
        ("bad-gallery-name", {"data": {"gallery": "No Such!"}, "files": image}, "hot_path"),
        ("text-as-jpeg", {"data": {"gallery": "faces"}, "files": text}, "hot_path"),
        ("top-k-0", {"data": {"gallery": "faces", "top_k": "0"}, "files": image}, "route"),
        ("top-k-101", {"data": {"gallery": "faces", "top_k": "101"}, "files": image}, "route"),
        ("top-k-empty", {"data": {"gallery": "faces", "top_k": ""}, "files": image}, "route"),
        ("top-k-word", {"data": {"gallery": "faces", "top_k": "two"}, "files": image}, "route"),
        ("top-k-spaced", {"data": {"gallery": "faces", "top_k": " 3"}, "files": image}, "route"),
        ("top-k-decimal", {"data": {"gallery": "faces", "top_k": "5.0"}, "files": image}, "route"),
        ("top-k-signed", {"data": {"gallery": "faces", "top_k": "+5"}, "files": image}, "route"),
        ("top-k-arabic-digit", {"data": {"gallery": "faces", "top_k": "٥"}, "files": image}, "route"),
        ("top-k-leading-zeros", {"data": {"gallery": "faces", "top_k": "0005"}, "files": image}, "route"),
        ("gallery-not-utf8", raw_form(("gallery", None, b"f\xe1ces"), ("image", "a", probe)), "route"),
        (
            "image-twice",
            raw_form(("gallery", None, b"faces"), ("image", "a", probe), ("image", "b", probe)),
            "route",
        ),
        ("too-tall", {"data": {"gallery": "faces"}, "files": tall}, "hot_path"),
        ("no-gallery", {"files": image}, "route"),
        ("empty-gallery", {"data": {"gallery": ""}, "files": image}, "route"),
        ("gallery-twice", {"data": {"gallery": ["nope", "faces"]}, "files": image}, "route"),
        ("gallery-as-file", {"files": {**image, "gallery": ("g.txt", b"faces", "text/plain")}}, "route"),
        ("no-image", {"data": {"gallery": "faces"}, "files": {"other": ("a.png", probe, PNG)}}, "route"),
        ("image-as-field", {"data": {"gallery": "faces", "image": "pixels"}}, "route"),
        ("urlencoded", {"data": {"gallery": "faces"}}, "route"),
        ("json", {"json": {"gallery": "faces"}}, "route"),
        ("empty", {}, "route"),
    ]


def raw_form(*parts: tuple[str, str | None, bytes]) -> dict[str, Any]:
    """A multipart body written out by hand: (name, filename or None for a plain field, data) per part."""
    body = multipart.form(*(multipart.part(name, data, filename=filename) for name, filename, data in parts))
    return {"content": body, "headers": {"content-type": "multipart/form-data; boundary=sg"}}


def readers(metrics_text: str) -> dict[str, float]:
    counts = {"hot_path": 0.0, "route": 0.0}
    for line in metrics_text.splitlines():
        for reader in counts:
            if line.startswith(f'sg_identify_reader_total{{reader="{reader}"}}'):
                counts[reader] = float(line.split()[-1])
    return counts


async def test_hot_path_answers_exactly_as_the_route_does(helpers, settings_factory, tmp_path):
    make: Callable[..., Settings] = settings_factory
    hot = make(data_dir=tmp_path / "hot", identify_hot_path=True)
    plain = make(data_dir=tmp_path / "route", identify_hot_path=False)
    async with helpers.serving(hot) as (_, hot_client), helpers.serving(plain) as (_, route_client):
        for client in (hot_client, route_client):
            for name in helpers.IDENTITIES:
                assert (await helpers.enroll(client, name)).status_code == 201
        for name, request, reader in cases(helpers):
            before = readers((await hot_client.get("/metrics")).text)
            got = await hot_client.post("/identify", **request)
            want = await route_client.post("/identify", **request)
            assert (got.status_code, got.content) == (want.status_code, want.content), name
            for header in ("content-type", "content-length", "retry-after"):
                assert got.headers.get(header) == want.headers.get(header), f"{name}: {header}"
            after = readers((await hot_client.get("/metrics")).text)
            assert after[reader] == before[reader] + 1, f"{name}: expected the {reader} to read it"
        route_metrics = (await route_client.get("/metrics")).text
        assert readers(route_metrics) == {"hot_path": 0.0, "route": 0.0}


@pytest.mark.parametrize("hot_path", [True, False])
async def test_identify_streamed_body_over_cap_returns_413(helpers, settings_factory, hot_path):
    async def chunks():
        yield b'--xyz\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n\r\n'
        for _ in range(20):
            yield b"\0" * 100_000

    headers = {"content-type": "multipart/form-data; boundary=xyz"}
    async with helpers.serving(settings_factory(identify_hot_path=hot_path)) as (_, client):
        response = await client.post("/identify", content=chunks(), headers=headers)
        assert response.status_code == 413 and response.json()["error"]["code"] == "payload_too_large"
        assert (await client.get("/health")).status_code == 200
        metrics = (await client.get("/metrics")).text
        assert 'sg_http_requests_total{method="POST",route="/identify",status="413"} 1.0' in metrics


async def test_client_gone_before_its_body_arrived_is_left_to_the_route(helpers, service):
    app, client = service
    messages = [
        {
            "type": "http.request",
            "body": b'--xyz\r\nContent-Disposition: form-data; name="gallery"',
            "more_body": True,
        },
        {"type": "http.disconnect"},
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/identify",
        "raw_path": b"/identify",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"sg.test"), (b"content-type", b"multipart/form-data; boundary=xyz")],
        "client": ("127.0.0.1", 1),
        "server": ("sg.test", 80),
    }
    await app(scope, receive, send)
    metrics = (await client.get("/metrics")).text
    assert readers(metrics) == {"hot_path": 0.0, "route": 1.0}
    assert 'route="/identify",status="5' not in metrics and 'route="unmatched"' not in metrics


async def test_hot_path_answers_concurrent_requests_each_with_its_own_identity(helpers, client, enrolled):
    requests = [
        client.post(
            "/identify",
            data={"gallery": "faces"},
            files={"image": helpers.image_file(helpers.noisy(name, seed=80 + i))},
        )
        for i, name in enumerate(helpers.IDENTITIES * 4)
    ]
    before = readers((await client.get("/metrics")).text)
    answers = await asyncio.gather(*requests)
    assert [a.json()["identity"] for a in answers] == list(helpers.IDENTITIES * 4)
    after = readers((await client.get("/metrics")).text)
    assert after == {"hot_path": before["hot_path"] + 16, "route": before["route"]}


STRICT = [  # (case name from `cases`, status, code): what both readers answer
    ("gallery-twice", 422, "duplicate_field"),
    ("image-twice", 422, "duplicate_field"),
    ("gallery-not-utf8", 422, "bad_encoding"),
    ("top-k-decimal", 422, "validation_error"),
    ("top-k-signed", 422, "validation_error"),
    ("top-k-spaced", 422, "validation_error"),
    ("top-k-arabic-digit", 422, "validation_error"),
    ("too-tall", 413, "image_too_large"),
]


@pytest.mark.parametrize("hot_path", [True, False])
async def test_identify_malformed_forms_get_422_with_a_code(helpers, settings_factory, hot_path):
    requests = {name: request for name, request, _ in cases(helpers)}
    async with helpers.serving(settings_factory(identify_hot_path=hot_path)) as (_, client):
        for name, status, code in STRICT:
            response = await client.post("/identify", **requests[name])
            assert (response.status_code, response.json()["error"]["code"]) == (status, code), name
        leading_zeros = await client.post("/identify", **requests["top-k-leading-zeros"])
        assert leading_zeros.status_code == 200 and len(leading_zeros.json()["candidates"]) <= 5
