"""Fixtures shared across the test packages."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gallery import GalleryRegistry


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[GalleryRegistry]:
    """A real registry (SQLite stores, FAISS indexes) over an empty data dir, closed afterwards."""
    registry = GalleryRegistry(tmp_path)
    registry.open()
    yield registry
    registry.close()
