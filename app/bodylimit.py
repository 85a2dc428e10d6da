"""The request body cap (SG_MAX_UPLOAD_MB): a too-large upload gets 413 `payload_too_large`, unbuffered.

A declared Content-Length over the cap is answered at once; a streamed body stops where it passes the cap. A
body sent with a Content-Encoding (gzip, br, ...) gets 415 `unsupported_content_encoding`: the service reads
bodies as sent, and would otherwise take a compressed form for a broken one, or a mislabelled plain one as fine.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import error_response


def _too_large(limit: int) -> str:
    return f"request body exceeds {limit} bytes (SG_MAX_UPLOAD_MB)"


class BodyLimitMiddleware:
    """Pure ASGI middleware: the cap applies to the whole request body, all files together."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        declared = headers.get("content-length", "")
        encoding = headers.get("content-encoding", "identity").strip().lower()
        has_body = declared not in ("", "0") or "transfer-encoding" in headers
        if has_body and encoding not in ("", "identity"):
            message = f"Content-Encoding {encoding!r} is not accepted: send the body uncompressed"
            await error_response(415, "unsupported_content_encoding", message)(scope, receive, send)
            return
        if declared.isdigit() and int(declared) > self.max_bytes:
            response = error_response(413, "payload_too_large", _too_large(self.max_bytes))
            await response(scope, receive, send)
            return
        await self.app(scope, self._counting(receive), send)

    def _counting(self, receive: Receive) -> Receive:
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise HTTPException(status_code=413, detail=_too_large(self.max_bytes))
            return message

        return counted
