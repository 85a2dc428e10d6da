"""API keys: when `SG_API_KEYS` is set, every path but /health, /ready and the web page's files (/ui) needs a
matching `X-API-Key`.

Checked in a pure ASGI middleware before any request body is read: an unauthenticated upload costs nothing.
"""

from __future__ import annotations

import hmac

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from app.errors import error_response

API_KEY_HEADER = "X-API-Key"
OPEN_PATHS = frozenset({"/health", "/ready", "/ui", "/ui/"})
OPEN_PREFIX = "/ui/"  # the web page's static files; the page sends the key with each API request it makes


def key_matches(given: str, keys: tuple[str, ...]) -> bool:
    """Constant-time comparison against every configured key (no early exit on the first match)."""
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(given.encode(), key.encode())
    return matched


def is_open(path: str) -> bool:
    """Paths served without a key."""
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIX)


class ApiKeyMiddleware:
    """401 `unauthorized` for a missing or wrong key; a no-op when no keys are configured."""

    def __init__(self, app: ASGIApp, *, keys: tuple[str, ...]) -> None:
        self.app = app
        self.keys = keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.keys or is_open(scope["path"]):
            await self.app(scope, receive, send)
            return
        given = Headers(scope=scope).get(API_KEY_HEADER)
        if given is None or not key_matches(given, self.keys):
            response = error_response(401, "unauthorized", f"missing or wrong {API_KEY_HEADER} header")
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
