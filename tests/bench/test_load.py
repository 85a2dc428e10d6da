"""The load generator's HTTP/1.1 client against a real asyncio server: statuses, keep-alive, errors."""

from __future__ import annotations

import asyncio

import pytest

from bench.load import PreparedRequest, _parse_head, run_load

REQUEST = PreparedRequest("/identify", b"--x--", "multipart/form-data; boundary=x", images=1)


def test_parse_head_reads_status_length_and_close():
    head = b"HTTP/1.1 429 Too Many Requests\r\ncontent-length: 12\r\nConnection: close\r\n\r\n"
    assert _parse_head(head) == (429, 12, True)


def test_parse_head_without_content_length_raises_value_error():
    with pytest.raises(ValueError, match="Content-Length"):
        _parse_head(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")


async def _serve(statuses: list[int], seen: list[bytes]) -> asyncio.Server:
    """A keep-alive HTTP server answering each request with the next status, recording what it read."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while head := await reader.readuntil(b"\r\n\r\n"):
            length = int(
                next(
                    ln.split(b":")[1]
                    for ln in head.split(b"\r\n")
                    if ln.lower().startswith(b"content-length")
                )
            )
            seen.append(head + await reader.readexactly(length))
            status = statuses[min(len(seen) - 1, len(statuses) - 1)]
            writer.write(f"HTTP/1.1 {status} X\r\ncontent-length: 2\r\n\r\nok".encode())
            await writer.drain()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


async def test_run_load_keeps_connections_alive_and_records_statuses():
    seen: list[bytes] = []
    server = await _serve([200, 200, 429], seen)
    port = server.sockets[0].getsockname()[1]
    async with server:
        result = await run_load(
            f"http://127.0.0.1:{port}", [REQUEST], clients=2, duration_s=0.3, headers={"X-API-Key": "k"}
        )
    statuses = {s.status for s in result.samples}
    assert statuses == {200, 429} and len(result.samples) == len(seen) > 3
    assert seen[0].startswith(b"POST /identify HTTP/1.1\r\n") and b"X-API-Key: k\r\n" in seen[0]
    assert seen[0].endswith(b"Content-Length: 5\r\n\r\n--x--")


async def test_run_load_refused_connection_counts_as_status_zero():
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    result = await run_load(f"http://127.0.0.1:{port}", [REQUEST], clients=1, duration_s=0.1)
    assert result.samples and all(s.status == 0 for s in result.samples)
