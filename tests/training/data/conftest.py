"""Shared fixtures for the data tests: tiny generated image trees, synthetic records, the shared data root."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from training.data.records import Record

REPO_ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def shared_data() -> Path:
    """`SG_DATA_ROOT` (relative paths are taken from the repo root), default `../shared/data`."""
    root = Path(os.environ.get("SG_DATA_ROOT", "../shared/data"))
    return root if root.is_absolute() else (REPO_ROOT / root).resolve()


def noise_image(mode: str, size: tuple[int, int], seed: int) -> Image.Image:
    """A random image (grey "L" or "RGB") so that resizing and decoding are exercised."""
    shape = (size[1], size[0]) if mode == "L" else (size[1], size[0], 3)
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8))


@pytest.fixture
def make_image() -> Callable[[str, tuple[int, int], int], Image.Image]:
    return noise_image


@pytest.fixture
def image_tree(tmp_path: Path) -> Path:
    """root/{cats,dogs,owls}: PNG, JPEG and BMP, grey and RGB, plus files and folders to be skipped."""
    root = tmp_path / "pets"
    files = {
        "cats": [("a.png", "L", "PNG"), ("b.jpg", "RGB", "JPEG"), ("c.BMP", "RGB", "BMP")],
        "dogs": [("a.jpeg", "L", "JPEG"), ("b.png", "RGB", "PNG")],
        "owls": [("z.JPG", "RGB", "JPEG"), ("y.bmp", "L", "BMP")],
    }
    for seed, (cls, images) in enumerate(files.items()):
        (root / cls).mkdir(parents=True)
        for i, (name, mode, fmt) in enumerate(images):
            noise_image(mode, (12, 10), seed * 10 + i).save(root / cls / name, format=fmt)
    noise_image("L", (12, 10), 99).save(root / "cats" / ".hidden.png")
    (root / "cats" / "notes.txt").write_text("not an image")
    (root / ".cache").mkdir()
    noise_image("L", (12, 10), 98).save(root / ".cache" / "x.png")
    (root / "README.txt").write_text("top-level files are not classes")
    return root


@pytest.fixture
def make_records() -> Callable[..., list[Record]]:
    """Build records without image files: classes_per_group {"g": n}, `per_class` images each."""

    def build(classes_per_group: dict[str, int], per_class: int = 5) -> list[Record]:
        return [
            Record(f"/nowhere/{group}/c{c:03d}/{i}.png", f"{group}/c{c:03d}", group)
            for group, n in classes_per_group.items()
            for c in range(n)
            for i in range(per_class)
        ]

    return build
