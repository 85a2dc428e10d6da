"""Closed-loop asyncio load generator: N keep-alive HTTP/1.1 connections, each sending again as soon as its
answer arrives.

Requests (head and multipart body) are encoded once up front, so the clients spend their time waiting, not
encoding; the loop is uvloop's where it is installed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import httpx

from bench.stats import Sample

STRIDE = 7919  # a prime: client c starts at request c * STRIDE, so clients do not send the same image in step


@dataclass(frozen=True)
class PreparedRequest:
    """A ready-to-send POST: its path, multipart body, content type, and how many images it carries."""

    path: str
    body: bytes
    content_type: str
    images: int


@dataclass(frozen=True)
class LoadResult:
    samples: tuple[Sample, ...]
    elapsed_s: float


def prepare_multipart(
    path: str, *, fields: Mapping[str, str], files: Sequence[tuple[str, str, bytes]]
) -> PreparedRequest:
    """Encode form `fields` and `(field, filename, data)` files once, with httpx's own multipart encoder."""
    parts = [(field, (filename, data, _mime(filename))) for field, filename, data in files]
    request = httpx.Request("POST", f"http://service{path}", data=dict(fields), files=parts)
    body = request.read()
    return PreparedRequest(path, body, request.headers["content-type"], images=len(files))


def _mime(filename: str) -> str:
    return "image/png" if filename.lower().endswith(".png") else "image/jpeg"


class Connection:
    """One keep-alive HTTP/1.1 connection that sends pre-encoded requests and reads whole responses.

    A client as lean as `wrk`'s: the request head and body are bytes built once, and a response is read as
    its status line, headers and `Content-Length` body, nothing more. On this 2-core machine the load
    generator shares the cores with the service, so every millisecond it spends counts against the service.
    """

    def __init__(self, host: str, port: int, *, headers: Mapping[str, str], timeout_s: float) -> None:
        self.host, self.port = host, port
        self.headers = dict(headers)
        self.timeout_s = timeout_s
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    def encode(self, request: PreparedRequest) -> bytes:
        head = [f"POST {request.path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        head += [f"{name}: {value}" for name, value in self.headers.items()]
        head += [f"Content-Type: {request.content_type}", f"Content-Length: {len(request.body)}"]
        return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + request.body

    async def send(self, payload: bytes) -> int:
        """Send one encoded request and read its response; returns the HTTP status."""
        async with asyncio.timeout(self.timeout_s):
            if self._writer is None:
                self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
            assert self._reader is not None
            self._writer.write(payload)
            head = await self._reader.readuntil(b"\r\n\r\n")
            status, length, close = _parse_head(head)
            await self._reader.readexactly(length)
        if close:
            await self.close()
        return status

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
        self._reader = self._writer = None


def _parse_head(head: bytes) -> tuple[int, int, bool]:
    """(status, Content-Length, whether the server closes) from a response head."""
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    fields = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
    if "content-length" not in fields:
        raise ValueError("response without Content-Length")
    return status, int(fields["content-length"]), fields.get("connection", "").lower() == "close"


async def _client_loop(
    connection: Connection,
    payloads: Sequence[bytes],
    *,
    first: int,
    deadline: float,
    samples: list[Sample],
) -> None:
    index = first
    try:
        while time.perf_counter() < deadline:
            payload = payloads[index % len(payloads)]
            index += 1
            started = time.perf_counter()
            try:
                status = await connection.send(payload)
            except (OSError, ValueError, TimeoutError, asyncio.IncompleteReadError):
                status = 0
                await connection.close()
            samples.append(Sample(time.perf_counter() - started, status))
    finally:
        await connection.close()


async def run_load(
    base_url: str,
    requests: Sequence[PreparedRequest],
    *,
    clients: int,
    duration_s: float,
    headers: Mapping[str, str] | None = None,
    timeout_s: float = 60.0,
) -> LoadResult:
    """Run `clients` closed loops for `duration_s`; in-flight requests finish and count at the end."""
    if clients < 1 or duration_s <= 0 or not requests:
        raise ValueError("need clients >= 1, duration_s > 0 and at least one prepared request")
    url = httpx.URL(base_url)
    connections = [
        Connection(url.host, url.port or 80, headers=headers or {}, timeout_s=timeout_s)
        for _ in range(clients)
    ]
    payloads = [connections[0].encode(request) for request in requests]
    samples: list[Sample] = []
    started = time.perf_counter()
    deadline = started + duration_s
    loops = [
        _client_loop(connection, payloads, first=c * STRIDE, deadline=deadline, samples=samples)
        for c, connection in enumerate(connections)
    ]
    await asyncio.gather(*loops)
    return LoadResult(tuple(samples), time.perf_counter() - started)


def drive(
    base_url: str,
    requests: Sequence[PreparedRequest],
    *,
    clients: int,
    duration_s: float,
    headers: Mapping[str, str] | None = None,
) -> LoadResult:
    """Blocking wrapper around `run_load` with a fresh event loop (uvloop's where installed)."""
    coro = run_load(base_url, requests, clients=clients, duration_s=duration_s, headers=headers)
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        return runner.run(coro)


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop
