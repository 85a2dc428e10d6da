"""HEAD on every GET route, and an `Allow` header that names every method a path answers.

FastAPI routes answer only the methods they declare, so `curl -I /health` (a load balancer's probe) got 405.
Here a HEAD request runs as the GET it stands for, and its answer keeps the status and headers (Content-Length
included) and drops the body, as RFC 9110 §9.3.2 asks.
"""

from __future__ import annotations

from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HeadAsGet:
    """Pure ASGI middleware: HEAD is served as GET without the body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return  # the rest of a streamed body: nothing of it goes out
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        inner = {**scope, "method": "GET"}  # a copy: the server still answers the HEAD it was sent
        try:
            await self.app(inner, receive, headers_only)
        finally:
            if "route" in inner:  # the route the router found, for the metrics outside
                scope["route"] = inner["route"]


METHODS = ("DELETE", "GET", "PATCH", "POST", "PUT")


def allowed_methods(routes, scope: Scope) -> list[str]:
    """Every method some route answers in full on `scope`'s path (HEAD wherever GET is), sorted. Each method is
    tried through the routes' own `matches`, which also sees into included routers."""
    methods = {
        method
        for method in METHODS
        if any(route.matches({**scope, "method": method})[0] == Match.FULL for route in routes)
    }
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)
