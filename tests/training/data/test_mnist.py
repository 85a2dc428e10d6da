"""MNIST IDX loader on tiny generated files, raw and gzipped."""

import gzip
from pathlib import Path

import numpy as np
import pytest

from training.data.mnist import load_mnist_idx, read_idx_image
from training.data.records import open_image

IMAGES = np.arange(3 * 4 * 5, dtype=np.uint8).reshape(3, 4, 5)
LABELS = np.array([7, 0, 7], dtype=np.uint8)


def _idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.tobytes()


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


@pytest.fixture(params=["", ".gz"], ids=["raw", "gz"])
def idx_files(request, tmp_path: Path) -> tuple[Path, Path]:
    images = _write(tmp_path / f"t10k-images-idx3-ubyte{request.param}", _idx_bytes(IMAGES))
    labels = _write(tmp_path / f"t10k-labels-idx1-ubyte{request.param}", _idx_bytes(LABELS))
    return images, labels


def test_load_mnist_idx_labels_digits_and_indexes_sources(idx_files: tuple[Path, Path]):
    images, labels = idx_files
    records = load_mnist_idx(images, labels)
    assert [r.label for r in records] == ["7", "0", "7"]
    assert records[2].source == f"{images}::2" and {r.group for r in records} == {"mnist"}


def test_read_idx_image_returns_grey_image_with_file_pixels(idx_files: tuple[Path, Path]):
    img = read_idx_image(str(idx_files[0]), 1)
    assert img.mode == "L" and img.size == (5, 4)
    np.testing.assert_array_equal(np.asarray(img), IMAGES[1])


def test_open_image_decodes_idx_record(idx_files: tuple[Path, Path]):
    record = load_mnist_idx(*idx_files)[2]
    np.testing.assert_array_equal(np.asarray(open_image(record)), IMAGES[2])


def test_load_mnist_idx_swapped_files_bad_magic_raises_value_error(idx_files: tuple[Path, Path]):
    images, labels = idx_files
    with pytest.raises(ValueError, match="bad IDX magic"):
        load_mnist_idx(labels, images)


def test_load_mnist_idx_non_ubyte_type_raises_value_error(tmp_path: Path):
    images = tmp_path / "images-idx3-ubyte"
    images.write_bytes(bytes([0, 0, 0x0D, 3]) + b"\x00\x00\x00\x01" * 3 + b"\x00" * 4)
    labels = _write(tmp_path / "labels-idx1-ubyte", _idx_bytes(LABELS[:1]))
    with pytest.raises(ValueError, match="bad IDX magic"):
        load_mnist_idx(images, labels)


def test_load_mnist_idx_count_mismatch_raises_value_error(tmp_path: Path):
    images = _write(tmp_path / "images-idx3-ubyte", _idx_bytes(IMAGES))
    labels = _write(tmp_path / "labels-idx1-ubyte", _idx_bytes(LABELS[:2]))
    with pytest.raises(ValueError, match="3 images but"):
        load_mnist_idx(images, labels)


def test_load_mnist_idx_truncated_body_raises_value_error(tmp_path: Path):
    images = _write(tmp_path / "images-idx3-ubyte", _idx_bytes(IMAGES)[:-1])
    labels = _write(tmp_path / "labels-idx1-ubyte", _idx_bytes(LABELS))
    with pytest.raises(ValueError, match="body has"):
        load_mnist_idx(images, labels)


def test_read_idx_image_index_out_of_range_raises_value_error(idx_files: tuple[Path, Path]):
    with pytest.raises(ValueError, match="out of range"):
        read_idx_image(str(idx_files[0]), 3)
