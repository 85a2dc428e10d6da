"""Training's dataset and the service's preprocessing give the same input tensor for the same file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.imaging import Upload, prepare_images
from modelcard import InputSpec
from training.data.dataset import ImageDataset
from training.data.records import Record, open_image

# Inputs larger than the files, so the service's reduced-scale JPEG decode (at least twice the input per side)
# keeps every pixel, as training does.
GREY = InputSpec(height=24, width=24, channels=1, mean=(0.5,), std=(0.25,))
RGB = InputSpec(height=24, width=32, channels=3, mean=(0.4, 0.5, 0.6), std=(0.2, 0.3, 0.4))


def _sixteen_bit_png(path: Path) -> Path:
    yy, xx = np.mgrid[0:18, 0:30]
    values = (xx * 30 + yy * 7) * 3  # dark, 16-bit: Pillow's own 8-bit conversion turns it nearly all white
    Image.fromarray(values.astype(np.uint16)).save(path)
    return path


def _sideways_jpeg(path: Path) -> Path:
    yy, xx = np.mgrid[0:20, 0:36]
    pixels = np.stack([xx * 7, yy * 12, (xx + yy) * 4], -1).astype(np.uint8)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: rotate 270 degrees to view
    Image.fromarray(pixels).save(path, quality=90, exif=exif.tobytes())
    return path


def _trained(path: Path, spec: InputSpec) -> np.ndarray:
    return ImageDataset([Record(str(path), "x")], spec, threads=1)[0][0].numpy()


def _served(path: Path, spec: InputSpec) -> np.ndarray:
    return prepare_images([Upload(path.name, path.read_bytes())], spec, max_pixels=10**6).batch[0]


@pytest.mark.parametrize(
    ("make", "spec"), [(_sixteen_bit_png, GREY), (_sideways_jpeg, RGB)], ids=["16bit-png", "exif-jpeg"]
)
def test_training_dataset_and_service_give_the_same_tensor(tmp_path: Path, make, spec: InputSpec):
    path = make(tmp_path / ("a.png" if spec is GREY else "a.jpg"))
    np.testing.assert_allclose(_trained(path, spec), _served(path, spec), atol=1e-6)


def test_training_decode_of_a_dark_16bit_png_stays_dark(tmp_path: Path):
    img = open_image(Record(str(_sixteen_bit_png(tmp_path / "a.png")), "x"))
    assert img.mode == "L" and np.asarray(img).mean() < 10  # was clipped to 255 by Pillow's conversion


def test_training_decode_turns_an_exif_tagged_jpeg_upright_before_record_rotate(tmp_path: Path):
    path = _sideways_jpeg(tmp_path / "a.jpg")
    assert open_image(Record(str(path), "x")).size == (20, 36)
    assert open_image(Record(str(path), "x", rotate=90)).size == (36, 20)
