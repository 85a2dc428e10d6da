"""The embedded server's read limits, on a real uvicorn (`python -m app` in a subprocess): slow clients are
closed with 408, oversized headers answered 431, and 1,100 connections stuck in their headers leave normal
requests answered, even with the open-file limit at 1,024."""

from __future__ import annotations

import contextlib
import json
import resource
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support.service import free_port, start_service, stop_service

SLOW_CLIENTS = 1100
FILE_LIMIT = 1024


def _limit_files() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (FILE_LIMIT, FILE_LIMIT))


@pytest.fixture
def server(tmp_path, models_dir) -> Iterator[tuple[str, int]]:
    """`python -m app` with 2 s header and 1 s body and write timeouts, under an open-file limit of 1,024."""
    port = free_port()
    process = start_service(
        port=port,
        data_dir=tmp_path / "data",
        models_dir=models_dir,
        settings={
            "SG_HEADER_TIMEOUT_S": "2",
            "SG_BODY_TIMEOUT_S": "1",
            "SG_WRITE_TIMEOUT_S": "1",
            "SG_MAX_HEADERS": "50",
            "SG_MAX_HEADER_KB": "16",
        },
        preexec_fn=_limit_files,
    )
    try:
        yield "127.0.0.1", port
    finally:
        stop_service(process)


def _send(address: tuple[str, int], data: bytes) -> socket.socket:
    sock = socket.create_connection(address, timeout=10)
    sock.sendall(data)
    return sock


def _answer(sock: socket.socket, timeout: float = 10.0) -> bytes:
    """Everything the server sends until it closes the connection."""
    sock.settimeout(timeout)
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except ConnectionResetError:
        pass
    sock.close()
    return b"".join(chunks)


def _error(answer: bytes) -> tuple[int, str]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)["error"]["code"]


def test_partial_headers_are_closed_with_408_after_the_header_timeout(server):
    started = time.monotonic()
    answer = _answer(_send(server, b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: "))
    waited = time.monotonic() - started
    assert _error(answer) == (408, "request_timeout") and 1.8 < waited < 6


def test_a_paused_body_is_closed_with_408_after_the_body_timeout(server):
    head = b"POST /galleries HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    started = time.monotonic()
    answer = _answer(_send(server, head + b'{"name": '))
    waited = time.monotonic() - started
    assert _error(answer) == (408, "request_timeout") and 0.9 < waited < 5


@pytest.mark.parametrize(
    "headers",
    [b"".join(b"X-F%d: v\r\n" % i for i in range(60)), b"X-Big: " + b"a" * 20_000 + b"\r\n"],
    ids=["too-many-fields", "too-many-bytes"],
)
def test_oversized_headers_answer_431_with_the_json_error_body(server, headers):
    answer = _answer(_send(server, b"GET /health HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n"))
    assert _error(answer) == (431, "headers_too_large")


def test_an_unfinished_huge_header_is_refused_before_it_ends(server):
    sock = _send(server, b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000)
    assert _error(_answer(sock, timeout=1.5)) == (431, "headers_too_large")  # well before the 2 s timeout


def test_keep_alive_requests_still_pass_under_the_limits(server):
    with httpx.Client(base_url=f"http://{server[0]}:{server[1]}", timeout=5) as client:
        for _ in range(3):
            assert client.get("/health").status_code == 200
            time.sleep(0.5)  # idle between requests, under the keep-alive timeout


def test_1100_connections_stuck_in_headers_leave_normal_requests_answered(server):
    slow = [_send(server, b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ") for _ in range(SLOW_CLIENTS)]
    latencies = []
    with httpx.Client(base_url=f"http://{server[0]}:{server[1]}", timeout=5) as client:
        for _ in range(20):
            started = time.monotonic()
            assert client.get("/health", headers={"Connection": "close"}).status_code == 200
            latencies.append(time.monotonic() - started)
    answers = [_answer(sock) for sock in slow]  # every slow client is closed, by the timeout or for room
    assert all(answer == b"" or _error(answer) == (408, "request_timeout") for answer in answers)
    print(
        f"\n{SLOW_CLIENTS} slow clients: health p50 {sorted(latencies)[10] * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms"
    )


def test_a_client_that_stops_reading_its_responses_is_dropped_after_the_write_timeout(server):
    """Pipelined requests whose answers are never read fill the buffers (the client's kept small); the server
    drops the connection once its writing has stalled for the write timeout, instead of holding it, and the
    answers it has yet to write, for ever."""
    base = f"http://{server[0]}:{server[1]}"
    whole = len(httpx.get(f"{base}/openapi.json", timeout=5).content)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(server)
    sock.settimeout(10)
    sock.sendall(b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n" * 400)  # answers never read
    time.sleep(3.0)  # well past the 1 s write timeout
    received = 0
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(1 << 20):  # what was buffered before the drop, then the end
            received += len(chunk)
    sock.close()
    assert received < 100 * whole, (received, whole)  # dropped: far from all 400 answers
    assert httpx.get(f"{base}/health", timeout=5).status_code == 200
