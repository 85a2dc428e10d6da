"""Shared fixtures for the service tests: a real tiny ONNX encoder and card, known-answer images, live apps.

The encoder (`tests/support/tiny_encoder.py`) maps distinct random 16x16 patterns about sqrt(2) apart and a
pattern plus small noise close to its own pattern.
Tests reach the helpers below through the `helpers` fixture.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi import FastAPI
from PIL import Image

from app.main import create_app
from app.settings import Settings
from tests.support.tiny_encoder import DIM, SIDE, write_model  # noqa: F401 (DIM reaches tests via `helpers`)

IDENTITIES = ("alice", "bob", "carol", "dave")


def pattern(name: str) -> np.ndarray:
    """A fixed random grey 16x16 pattern per name (uint8)."""
    seed = int.from_bytes(name.encode()[:8].ljust(8, b"\0"), "little")
    return np.random.default_rng(seed).integers(0, 256, (SIDE, SIDE), dtype=np.uint8)


def noisy(name: str, *, seed: int, amount: int = 12) -> np.ndarray:
    """The identity's pattern plus small seeded noise: a probe that should match it."""
    noise = np.random.default_rng(seed).integers(-amount, amount + 1, (SIDE, SIDE))
    return np.clip(pattern(name).astype(int) + noise, 0, 255).astype(np.uint8)


def png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def bomb_png(width: int, height: int) -> bytes:
    """A small valid PNG whose header claims width x height pixels (the decompression-bomb shape)."""
    data = bytearray(png(pattern("bomb")))
    ihdr = struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return bytes(data)


def flat_png(width: int, height: int) -> bytes:
    """A real, complete grey PNG of width x height black pixels, compressed as it streams (1 x 40,000,000 is
    78 KB) rather than drawn in memory first."""
    packer = zlib.compressobj(9)
    row = b"\0" * (width + 1)  # filter byte 0, then the row
    rows_per_chunk = max(1, 1_000_000 // len(row))
    chunks = [
        packer.compress(row * min(rows_per_chunk, height - done)) for done in range(0, height, rows_per_chunk)
    ]
    data = b"".join(chunks) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grey, no interlace
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", data) + _chunk(b"IEND", b"")


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def truncated_jpeg() -> bytes:
    """The first 300 bytes of a 64x64 JPEG: a valid header, then nothing."""
    buffer = io.BytesIO()
    pixels = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(buffer, format="JPEG")
    return buffer.getvalue()[:300]


def image_file(pixels: np.ndarray, name: str = "image.png") -> tuple[str, bytes, str]:
    """An httpx multipart file tuple holding a PNG."""
    return (name, png(pixels), "image/png")


def make_settings(tmp_path: Path, models: Path, **overrides: Any) -> Settings:
    """Settings on a private data dir; every knob a test relies on is explicit (env vars cannot leak in)."""
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "models_dir": models,
        "api_keys": (),
        "device": "cpu",
        "max_batch": 32,
        "max_wait_ms": 20.0,
        "queue_size": 256,
        "max_images_per_request": 16,
        "max_upload_mb": 1.0,
        "max_image_pixels": 1_000_000,
        "intra_op_threads": 1,
        "inter_op_threads": 1,
        "decode_threads": 2,
        "ambiguity_margin": 0.05,
        "default_galleries": ("faces", "bodyparts", "defects"),
    }
    values.update(overrides)
    return Settings(**values)


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """A real app with its real lifespan, driven in-process through httpx."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sg.test") as client:
            yield app, client


async def enroll(
    client: httpx.AsyncClient, identity: str, *, gallery: str = "faces", count: int = 2, **form: str
) -> httpx.Response:
    """Enroll `count` noisy views of the identity's pattern."""
    files = [("images", image_file(noisy(identity, seed=i), f"{identity}-{i}.png")) for i in range(count)]
    return await client.post("/enroll", data={"gallery": gallery, "identity": identity, **form}, files=files)


async def identify(
    client: httpx.AsyncClient, pixels: np.ndarray, *, gallery: str = "faces"
) -> httpx.Response:
    return await client.post("/identify", data={"gallery": gallery}, files={"image": image_file(pixels)})


@pytest.fixture(scope="session")
def helpers() -> SimpleNamespace:
    """The helpers above, for test modules (which cannot import this conftest)."""
    names = (
        "IDENTITIES",
        "SIDE",
        "DIM",
        "pattern",
        "noisy",
        "png",
        "bomb_png",
        "flat_png",
        "truncated_jpeg",
        "image_file",
    )
    names += ("serving", "enroll", "identify", "write_model")
    return SimpleNamespace(**{name: globals()[name] for name in names})


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models directory with `faces` (a default gallery appears) and `toy`, both the same tiny encoder."""
    path = tmp_path_factory.mktemp("models")
    write_model(path, "faces", seed=0)
    write_model(path, "toy", seed=0)
    return path


@pytest.fixture
def settings(tmp_path: Path, models_dir: Path) -> Settings:
    return make_settings(tmp_path, models_dir)


@pytest.fixture
def settings_factory(tmp_path: Path, models_dir: Path) -> Callable[..., Settings]:
    return lambda **overrides: make_settings(tmp_path, models_dir, **overrides)


@pytest.fixture
async def service(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    async with serving(settings) as pair:
        yield pair


@pytest.fixture
async def client(service: tuple[FastAPI, httpx.AsyncClient]) -> httpx.AsyncClient:
    return service[1]


@pytest.fixture
async def enrolled(client: httpx.AsyncClient) -> httpx.AsyncClient:
    """The `faces` gallery with every identity of IDENTITIES enrolled (2 references each)."""
    for name in IDENTITIES:
        response = await enroll(client, name)
        assert response.status_code == 201, response.text
    return client
