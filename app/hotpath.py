"""POST /identify answered below FastAPI's router: the service's busiest request, at a fraction of the cost.

FastAPI's per-request work on the event loop (routing, dependency solving, form parsing into spooled files
and validation models, response validation) costs identify about 0.2 ms of Python, while the event loop
shares the GIL and two cores with the model and the decode threads; under load that is a few per cent of
throughput. This pure ASGI middleware, inside the API key and body limit checks, reads the plain form
directly (`app.plainform`), calls the same `recognition.identify` and writes the same JSON.

Anything that is not the plain, valid form (a field missing, empty or of the wrong kind, `top_k` out of
range, a multipart body out of the ordinary) goes on to the FastAPI route with its body replayed, so every
error is the route's own: one set of rules, one set of error codes. The route also keeps the OpenAPI
schema. `SG_IDENTIFY_HOT_PATH=false` turns this off.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import recognition
from app.errors import handle_error
from app.imaging import Upload, upload_name
from app.metrics import Metrics
from app.plainform import PlainForm, read_plain_form

PATH = "/identify"


class Disconnected(Exception):
    """The client went away before its request body arrived."""


class IdentifyHotPath:
    """Answers the plain POST /identify itself; every other request passes through untouched."""

    def __init__(self, app: ASGIApp, *, route: BaseRoute, metrics: Metrics) -> None:
        self.app = app
        self.route = route  # the FastAPI route, named in `scope` for the request metrics
        self._answered = metrics.identify_readers.labels(reader="hot_path")
        self._passed_on = metrics.identify_readers.labels(reader="route")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        try:
            body = await _read_body(receive)
        except Disconnected:
            return
        except Exception as exc:  # the body limit's 413, raised from `receive`
            await (await handle_error(Request(scope), exc))(scope, receive, send)
            return
        form = read_plain_form(Headers(scope=scope).get("content-type", "").encode("latin-1"), body)
        args = identify_args(form) if form is not None else None
        if args is None:
            self._passed_on.inc()
            await self.app(scope, _replay(body, receive), send)
            return
        self._answered.inc()
        scope["route"] = self.route
        try:
            answer = await recognition.identify(scope["app"].state.runtime, **args)
            response = Response(answer.model_dump_json(), media_type="application/json")
        except Exception as exc:
            response = await handle_error(Request(scope), exc)
        await response(scope, receive, send)


def identify_args(form: PlainForm) -> dict[str, object] | None:
    """`recognition.identify`'s arguments when the form is exactly what the route accepts, else None."""
    gallery, image = form.fields.get("gallery"), form.files.get("image")
    top_k = form.fields.get("top_k", str(recognition.DEFAULT_TOP_K))
    if not gallery or image is None or {"gallery", "top_k"} & form.files.keys() or "image" in form.fields:
        return None
    if not (top_k.isascii() and top_k.isdigit() and 1 <= int(top_k) <= recognition.MAX_TOP_K):
        return None
    upload = Upload(filename=upload_name(image.filename), data=image.data)
    return {"gallery_name": gallery, "upload": upload, "top_k": int(top_k)}


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise Disconnected
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """`receive` for the next app: the body already read, then whatever the client sends after it."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
