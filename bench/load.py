"""Closed-loop asyncio + httpx load generator: N clients, each sending again as soon as its answer arrives.

Request bodies are multipart-encoded once up front, so the clients spend their time waiting, not encoding.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
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


async def _client_loop(
    client: httpx.AsyncClient,
    requests: Sequence[PreparedRequest],
    *,
    first: int,
    deadline: float,
    samples: list[Sample],
) -> None:
    index = first
    while time.perf_counter() < deadline:
        request = requests[index % len(requests)]
        index += 1
        started = time.perf_counter()
        try:
            response = await client.post(
                request.path, content=request.body, headers={"content-type": request.content_type}
            )
            status = response.status_code
        except httpx.HTTPError:
            status = 0
        samples.append(Sample(time.perf_counter() - started, status))


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
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    samples: list[Sample] = []
    async with httpx.AsyncClient(
        base_url=base_url, limits=limits, timeout=timeout_s, headers=dict(headers or {})
    ) as client:
        started = time.perf_counter()
        deadline = started + duration_s
        loops = [
            _client_loop(client, requests, first=c * STRIDE, deadline=deadline, samples=samples)
            for c in range(clients)
        ]
        await asyncio.gather(*loops)
        elapsed = time.perf_counter() - started
    return LoadResult(tuple(samples), elapsed)


def drive(
    base_url: str,
    requests: Sequence[PreparedRequest],
    *,
    clients: int,
    duration_s: float,
    headers: Mapping[str, str] | None = None,
) -> LoadResult:
    """Blocking wrapper around `run_load` with a fresh event loop."""
    return asyncio.run(run_load(base_url, requests, clients=clients, duration_s=duration_s, headers=headers))
