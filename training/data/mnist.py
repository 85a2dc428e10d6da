"""Load MNIST-style IDX files (`*-idx3-ubyte` images, `*-idx1-ubyte` labels), raw or gzipped."""

from __future__ import annotations

import gzip
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from training.data.records import ZIP_SEP, Record

UBYTE = 0x08
GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if data[:2] == GZIP_MAGIC else data


def parse_idx(path: Path, *, ndim: int) -> np.ndarray:
    """Parse an unsigned-byte IDX file with `ndim` dimensions; ValueError on a bad header or size."""
    data = _read_bytes(Path(path))
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != UBYTE or data[3] != ndim:
        magic = data[:4].hex() or "(empty)"
        raise ValueError(
            f"{path}: bad IDX magic {magic}, expected 000008{ndim:02x} (unsigned bytes, {ndim}-D)"
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{path}: IDX header truncated")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    if len(data) - header != int(np.prod(shape)):
        raise ValueError(f"{path}: IDX body has {len(data) - header} bytes, header says shape {shape}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


@lru_cache(maxsize=4)
def _images(path: str) -> np.ndarray:
    return parse_idx(Path(path), ndim=3)


def read_idx_image(path: str, index: int) -> Image.Image:
    """Image `index` of an idx3 file as a mode "L" image (the parsed file is cached per path)."""
    images = _images(str(path))
    if not 0 <= index < len(images):
        raise ValueError(f"{path}: image index {index} out of range 0..{len(images) - 1}")
    return Image.fromarray(np.array(images[index]))


def load_mnist_idx(images_path: Path, labels_path: Path) -> list[Record]:
    """Return one record per image: source "<images_path>::<index>", label the digit, group "mnist"."""
    images = _images(str(images_path))
    labels = parse_idx(Path(labels_path), ndim=1)
    if len(images) != len(labels):
        raise ValueError(f"{images_path} holds {len(images)} images but {labels_path} {len(labels)} labels")
    return [Record(f"{images_path}{ZIP_SEP}{i}", str(int(y)), "mnist") for i, y in enumerate(labels)]
