"""The embedded server: uvicorn (httptools) plus the read limits it lacks, so slow or greedy clients cost little.

uvicorn 0.55 has no timeout on reading a request: a client that sends part of its headers, or pauses its body,
holds a connection (a file descriptor) forever. `GuardedProtocol` adds, per connection:

- a header deadline (`header_timeout_s`, from the connection's start or the previous response): 408;
- a body idle timeout (`body_timeout_s` between two reads, not counted while the app is not reading): 408;
- a cap on header bytes and header fields: 431;
- a write stall timeout (`write_timeout_s`): a client that stops reading its response (the transport's buffer
  stays full, uvicorn's writing paused) is dropped, connection and buffered response;
- a connection cap: past `max_connections`, the connection waiting longest for its headers is closed to make
  room (a slow client), else the new one is answered 503 `too_many_connections`.

Each refusal carries the service's JSON error body and closes the connection. The open-file limit is raised
to fit the connection cap (`raise_open_files`), so the process never runs out of descriptors under it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import resource
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, ClassVar

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.errors import HeadersTooLarge, RequestTimeout, ServiceError, TooManyConnections
from app.settings import Settings

log = logging.getLogger(__name__)
RESERVED_FILES = 256  # descriptors kept for everything else: gallery files, models, logs, worker threads


@dataclass(frozen=True)
class ServerLimits:
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    write_timeout_s: float = 30.0
    max_header_bytes: int = 64 * 1024
    max_headers: int = 100
    max_connections: int = 4096


def limits_from(settings: Settings) -> ServerLimits:
    return ServerLimits(
        header_timeout_s=settings.header_timeout_s,
        body_timeout_s=settings.body_timeout_s,
        write_timeout_s=settings.write_timeout_s,
        max_header_bytes=settings.max_header_kb * 1024,
        max_headers=settings.max_headers,
        max_connections=settings.max_connections,
    )


def error_bytes(error: ServiceError, reason: str) -> bytes:
    """A whole HTTP/1.1 response with the service's error body, closing the connection."""
    body = json.dumps({"error": {"code": error.code, "message": str(error)}}).encode()
    head = (
        f"HTTP/1.1 {error.status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with read deadlines, header caps and a connection cap (see the module)."""

    limits: ClassVar[ServerLimits] = ServerLimits()
    awaiting_headers: ClassVar[OrderedDict[GuardedProtocol, None]]  # per server, oldest first

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._timer: asyncio.TimerHandle | None = None
        self._write_timer: asyncio.TimerHandle | None = None  # while writing is paused (a full buffer)
        self._header_bytes = 0
        self._refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections and not self._make_room():
            self._refuse(
                TooManyConnections("every connection slot is taken; retry shortly"), "Service Unavailable"
            )
            return
        self._await_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_timer()
        self._stop_write_timer()
        self.awaiting_headers.pop(self, None)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self in self.awaiting_headers:
            self._header_bytes += len(data)
        super().data_received(data)
        if (
            not self._refused
            and self in self.awaiting_headers
            and self._header_bytes > self.limits.max_header_bytes
        ):
            self._refuse_headers(f"headers over {self.limits.max_header_bytes} bytes")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self not in self.awaiting_headers:  # the next request on a kept-alive connection
            self._await_headers()

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._refused:
            return
        super().on_header(name, value)
        if len(self.headers) > self.limits.max_headers:
            self._refuse_headers(f"more than {self.limits.max_headers} header fields")

    def on_headers_complete(self) -> None:
        if self._refused:
            return
        size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
        if size > self.limits.max_header_bytes:
            self._refuse_headers(f"headers over {self.limits.max_header_bytes} bytes")
            return
        self.awaiting_headers.pop(self, None)
        self._arm(self.limits.body_timeout_s, self._body_timed_out)
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if self._refused:
            return
        self._arm(self.limits.body_timeout_s, self._body_timed_out)
        super().on_body(body)

    def on_message_complete(self) -> None:
        if self._refused:
            return
        self._stop_timer()
        super().on_message_complete()

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._write_timer is None:
            self._write_timer = self.loop.call_later(self.limits.write_timeout_s, self._write_timed_out)

    def resume_writing(self) -> None:
        self._stop_write_timer()
        super().resume_writing()

    def _write_timed_out(self) -> None:
        """The client has read nothing for `write_timeout_s` with a full buffer: drop the connection (no
        response can reach it; the app, if still sending, sees a disconnect)."""
        self._write_timer = None
        log.info(
            "a client read nothing of its response for %g s: connection dropped", self.limits.write_timeout_s
        )
        self._refused = True
        self._stop_timer()
        self.awaiting_headers.pop(self, None)
        self.transport.abort()

    def _stop_write_timer(self) -> None:
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None

    def _await_headers(self) -> None:
        self._header_bytes = 0
        self.awaiting_headers[self] = None
        self._arm(self.limits.header_timeout_s, self._headers_timed_out)

    def _make_room(self) -> bool:
        """Close the connection that has waited longest for its headers; False when none is waiting."""
        oldest = next((p for p in self.awaiting_headers if p is not self), None)
        if oldest is None:
            return False
        oldest._refuse(
            RequestTimeout("closed for a new connection while its headers were pending"), "Request Timeout"
        )
        return True

    def _headers_timed_out(self) -> None:
        limit = self.limits.header_timeout_s
        self._refuse(RequestTimeout(f"request headers not received within {limit:g} s"), "Request Timeout")

    def _body_timed_out(self) -> None:
        cycle = self.cycle
        if cycle is not None and (self.flow.read_paused or cycle.waiting_for_100_continue):
            self._arm(
                self.limits.body_timeout_s, self._body_timed_out
            )  # the app is not reading: not the client's wait
            return
        limit = self.limits.body_timeout_s
        self._refuse(RequestTimeout(f"no request body received for {limit:g} s"), "Request Timeout")

    def _refuse_headers(self, why: str) -> None:
        self._refuse(HeadersTooLarge(f"request refused: {why}"), "Request Header Fields Too Large")

    def _refuse(self, error: ServiceError, reason: str) -> None:
        """Answer `error` (unless a response has begun) and close the connection."""
        self._refused = True
        self._stop_timer()
        self.awaiting_headers.pop(self, None)
        if self.transport.is_closing():
            return
        if self.cycle is None or not self.cycle.response_started:
            self.transport.write(error_bytes(error, reason))  # the app, if running, sees a disconnect
        self.transport.close()

    def _arm(self, delay: float, callback: Any) -> None:
        self._stop_timer()
        self._timer = self.loop.call_later(delay, callback)

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def protocol_class(limits: ServerLimits) -> type[GuardedProtocol]:
    """A `GuardedProtocol` bound to `limits`, with its own record of connections awaiting headers."""
    return type(
        "BoundGuardedProtocol", (GuardedProtocol,), {"limits": limits, "awaiting_headers": OrderedDict()}
    )


def raise_open_files(wanted: int) -> int:
    """Raise the soft open-file limit towards `wanted` (never past the hard limit); the soft limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


def server_config(app: Any, settings: Settings) -> uvicorn.Config:
    """uvicorn's config with the guarded protocol; the connection cap fits the open-file limit."""
    limits = limits_from(settings)
    files = raise_open_files(limits.max_connections + RESERVED_FILES)
    if files != resource.RLIM_INFINITY and limits.max_connections > files - RESERVED_FILES:
        fitted = max(files - RESERVED_FILES, 1)
        log.warning(
            "SG_MAX_CONNECTIONS %d lowered to %d: the open-file limit is %d",
            limits.max_connections,
            fitted,
            files,
        )
        limits = ServerLimits(**{**limits.__dict__, "max_connections": fitted})
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        http=protocol_class(limits),
        timeout_keep_alive=settings.keep_alive_s,  # type: ignore[arg-type]  # a float works: call_later
        backlog=settings.backlog,
        h11_max_incomplete_event_size=limits.max_header_bytes,
    )
