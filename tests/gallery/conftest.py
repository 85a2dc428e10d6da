"""Shared gallery fixtures: seeded unit vectors, image hashes, and real SQLite/FAISS galleries in tmp_path."""

from __future__ import annotations

import hashlib
import sqlite3
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


class StoreBackend:
    """One kind of store under test: creates the `faces` store, opens it again, and damages it as a disk or
    a hand with the database's own tools could."""

    def __init__(self, kind: str, *, path: Path, url: str | None) -> None:
        self.kind, self.path, self.url = kind, path, url

    def create(self, name: str = "faces", **fields: object) -> GalleryStore:
        fields = {"model": "faces", "model_sha256": MODEL_SHA, "dim": DIM} | fields
        if self.url is None:
            return GalleryStore.create(self.path, name=name, **fields)  # type: ignore[arg-type]
        from gallery.postgres import PostgresStore  # psycopg: only where PostgreSQL runs

        return PostgresStore.create(self.url, name=name, **fields)  # type: ignore[arg-type]

    def open(self, name: str = "faces") -> GalleryStore:
        if self.url is None:
            return GalleryStore.open(self.path)
        from gallery.postgres import PostgresStore

        return PostgresStore.open(self.url, name)

    def execute(self, sql: str, name: str = "faces") -> None:
        """Run one statement in the store's database, outside the store."""
        if self.url is None:
            with sqlite3.connect(self.path) as conn:
                conn.execute(sql)
            return
        store = self.open(name)
        try:
            with store.atomic() as conn:
                conn.execute(sql)
        finally:
            store.close()


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, store_path: Path) -> StoreBackend:
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    return StoreBackend(request.param, path=store_path, url=url)


@pytest.fixture
def any_store(backend: StoreBackend) -> Iterator[GalleryStore]:
    """The `faces` store, once on SQLite and once on PostgreSQL."""
    store = backend.create()
    yield store
    store.close()


@pytest.fixture
def gallery(registry: GalleryRegistry) -> Gallery:
    return registry.create("faces", model="faces", model_sha256=MODEL_SHA, dim=DIM)
