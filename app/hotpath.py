"""POST /identify answered below FastAPI's router: the service's busiest request, at a fraction of the cost.

FastAPI's per-request work on the event loop (routing, dependency solving, form parsing into spooled files
and validation models, response validation) costs identify about 0.2 ms of Python, while the event loop
shares the GIL and two cores with the model, search and decode threads; on 2 cores at 32 clients that was
about a tenth of identify's throughput (bench/RESULTS.md). This pure ASGI middleware, inside the API key and
body limit checks, reads the plain form directly (`app.plainform`), calls the same `recognition.identify`
and writes the same JSON.

Anything that is not the plain, valid form (a field missing, empty or of the wrong kind, `top_k` out of
range, a multipart body out of the ordinary, a client gone before its body arrived) goes on to the FastAPI
route with what was read replayed, so every error is the route's own: one set of rules, one set of error
codes. The route also keeps the OpenAPI schema and, with `SG_OPENTELEMETRY`, its spans (the hot path is
then off). `SG_IDENTIFY_HOT_PATH=false` turns it off.
"""

from __future__ import annotations

from typing import NamedTuple

from fastapi.routing import APIRoute
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import recognition
from app.errors import handle_error
from app.imaging import Upload, upload_name
from app.metrics import Metrics
from app.plainform import PlainForm, read_plain_form


class IdentifyArgs(NamedTuple):
    """`recognition.identify`'s arguments, read from the form."""

    gallery_name: str
    upload: Upload
    top_k: int


class IdentifyHotPath:
    """Answers the plain POST to the identify route itself; every other request passes through untouched."""

    def __init__(self, app: ASGIApp, *, route: APIRoute, metrics: Metrics) -> None:
        self.app = app
        self.route = route  # named in `scope` for the request metrics, as the router would
        self._answered = metrics.identify_readers.labels(reader="hot_path")
        self._passed_on = metrics.identify_readers.labels(reader="route")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self.route.path or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        scope["route"] = self.route
        try:
            body, disconnect = await _read_body(receive)
        except Exception as exc:  # the body limit's 413, raised from `receive`
            await (await handle_error(Request(scope), exc))(scope, receive, send)
            return
        content_type = Headers(scope=scope).get("content-type", "").encode("latin-1")
        form = read_plain_form(content_type, body) if disconnect is None else None
        args = identify_args(form) if form is not None else None
        if args is None:
            self._passed_on.inc()
            await self.app(scope, _replay(body, disconnect, receive), send)
            return
        self._answered.inc()
        try:
            answer = await recognition.identify(scope["app"].state.runtime, **args._asdict())
            response = Response(answer.model_dump_json(), media_type="application/json")
        except Exception as exc:
            response = await handle_error(Request(scope), exc)
        await response(scope, receive, send)


def identify_args(form: PlainForm) -> IdentifyArgs | None:
    """The arguments when the form is exactly what the route accepts and reads the same way, else None.

    `top_k` is taken only as 1 to 3 plain digits within range (the route's validation reads more forms than
    that, such as 5,000 leading zeros); a file part with an empty name and no bytes is what a browser sends
    for a file input left empty, which the route reads as no file at all.
    """
    gallery, image = form.fields.get("gallery"), form.files.get("image")
    top_k = form.fields.get("top_k", str(recognition.DEFAULT_TOP_K))
    if not gallery or image is None or "top_k" in form.files or (image.filename == "" and not image.data):
        return None
    if not (len(top_k) <= 3 and top_k.isascii() and top_k.isdigit()):
        return None
    k = int(top_k)
    if not 1 <= k <= recognition.MAX_TOP_K:
        return None
    return IdentifyArgs(gallery, Upload(filename=upload_name(image.filename), data=image.data), k)


async def _read_body(receive: Receive) -> tuple[bytes, Message | None]:
    """The body, and the disconnect message if the client went away before sending all of it."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks), message
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), None


def _replay(body: bytes, disconnect: Message | None, receive: Receive) -> Receive:
    """`receive` for the next app: what was read, as it came (the body, then the disconnect if there was
    one), then whatever the client sends after it."""
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": disconnect is not None}]
    if disconnect is not None:
        pending.append(disconnect)

    async def replay() -> Message:
        return pending.pop(0) if pending else await receive()

    return replay
