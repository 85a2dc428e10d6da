"""Shared gallery fixtures: seeded unit vectors, image hashes, and real SQLite/FAISS galleries in tmp_path."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from gallery import Gallery, GalleryRegistry
from gallery.store import GalleryStore

DIM = 16
MODEL_SHA = hashlib.sha256(b"model-a").hexdigest()


@pytest.fixture
def dim() -> int:
    return DIM


@pytest.fixture
def model_sha() -> str:
    return MODEL_SHA


@pytest.fixture
def unit_vectors() -> Callable[..., np.ndarray]:
    """unit_vectors(n, dim=DIM, seed=0) -> (n, dim) float32 rows of norm 1."""

    def make(n: int, dim: int = DIM, seed: int = 0) -> np.ndarray:
        x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    return make


@pytest.fixture
def shas() -> Callable[[int], list[str]]:
    """shas(n) -> n distinct image sha256 hex digests."""
    counter = iter(range(1 << 30))
    return lambda n: [hashlib.sha256(str(next(counter)).encode()).hexdigest() for _ in range(n)]


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "faces.sqlite"


@pytest.fixture
def store(store_path: Path) -> Iterator[GalleryStore]:
    store = GalleryStore.create(store_path, name="faces", model="faces", model_sha256=MODEL_SHA, dim=DIM)
    yield store
    store.close()


@pytest.fixture
def gallery(registry: GalleryRegistry) -> Gallery:
    return registry.create("faces", model="faces", model_sha256=MODEL_SHA, dim=DIM)
