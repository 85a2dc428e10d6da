"""Fixtures shared across the test packages."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gallery import GalleryRegistry
from tests.support.disk import small_tmpfs

pytest_plugins = ["tests.support.postgres"]  # postgres_server (session), postgres_url (per test)


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[GalleryRegistry]:
    """A real registry (SQLite stores, FAISS indexes) over an empty data dir, closed afterwards."""
    registry = GalleryRegistry(tmp_path)
    registry.open()
    yield registry
    registry.close()


@pytest.fixture
def full_disk_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory on its own 4 MiB tmpfs (skipped where one cannot be mounted); fill it with
    `tests.support.disk.fill`."""
    with small_tmpfs(tmp_path / "disk") as directory:
        yield directory
