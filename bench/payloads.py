"""Pre-encoded image payloads: real files from a class-per-folder tree, or seeded synthetic JPEGs.

Each identity gets a few images to enroll and the rest become probes, so identify answers are checkable.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".pgm", ".ppm")


@dataclass(frozen=True)
class Encoded:
    """One image file as it would be uploaded."""

    identity: str
    filename: str
    data: bytes


@dataclass(frozen=True)
class ImageSet:
    """Images to enroll (several per identity) and probes of the same identities."""

    enroll: dict[str, tuple[Encoded, ...]]
    probes: tuple[Encoded, ...]

    @property
    def all_images(self) -> tuple[Encoded, ...]:
        return tuple(img for group in self.enroll.values() for img in group) + self.probes


def encode_jpeg(pixels: np.ndarray, *, quality: int = 90) -> bytes:
    """uint8 (H, W, 3) or (H, W) array -> JPEG bytes."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def synthetic_images(
    *, identities: int, per_identity: int, enroll_per_identity: int, size: int = 64, seed: int = 0
) -> ImageSet:
    """Each identity is a seeded smooth colour pattern; its images add small pixel noise to it."""
    _check_counts(per_identity=per_identity, enroll_per_identity=enroll_per_identity)
    rng = np.random.default_rng(seed)
    groups: dict[str, list[Encoded]] = {}
    for i in range(identities):
        coarse = rng.uniform(0, 255, (8, 8, 3)).astype(np.uint8)
        base = np.asarray(Image.fromarray(coarse).resize((size, size), Image.Resampling.BILINEAR), np.float32)
        name = f"synthetic-{i:04d}"
        groups[name] = [
            Encoded(name, f"{name}-{j}.jpg", encode_jpeg(_noisy(base, rng))) for j in range(per_identity)
        ]
    return _split(groups, enroll_per_identity=enroll_per_identity)


def folder_images(root: Path, *, identities: int, per_identity: int, enroll_per_identity: int) -> ImageSet:
    """The first `identities` class folders (sorted) holding at least `per_identity` images each."""
    _check_counts(per_identity=per_identity, enroll_per_identity=enroll_per_identity)
    if not Path(root).is_dir():
        raise ValueError(f"image folder {root} does not exist")
    groups: dict[str, list[Encoded]] = {}
    for folder in sorted(p for p in Path(root).iterdir() if p.is_dir()):
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if len(files) >= per_identity:
            groups[folder.name] = [Encoded(folder.name, f.name, f.read_bytes()) for f in files[:per_identity]]
        if len(groups) == identities:
            break
    if len(groups) < identities:
        raise ValueError(f"{root} has only {len(groups)} class folders with >= {per_identity} images")
    return _split(groups, enroll_per_identity=enroll_per_identity)


def _noisy(base: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8)


def _check_counts(*, per_identity: int, enroll_per_identity: int) -> None:
    if not 1 <= enroll_per_identity < per_identity:
        raise ValueError("need 1 <= enroll_per_identity < per_identity, so every identity keeps a probe")


def _split(groups: dict[str, list[Encoded]], *, enroll_per_identity: int) -> ImageSet:
    enroll = {name: tuple(images[:enroll_per_identity]) for name, images in groups.items()}
    probes = tuple(img for images in groups.values() for img in images[enroll_per_identity:])
    return ImageSet(enroll=enroll, probes=probes)
