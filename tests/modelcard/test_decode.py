"""The shared decode: 16-bit grey scaled rather than clipped, EXIF applied once, reduced-scale JPEG on request."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, UnidentifiedImageError

from modelcard.decode import decode, open_image

ORIENTATION = 0x0112


def _save(img: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def test_decode_dark_16bit_grey_png_scales_to_8bit_instead_of_clipping():
    values = np.linspace(0, 1023, 24 * 16).reshape(16, 24).astype(np.uint16)  # an X-ray's dark 10 bits
    img = decode(_save(Image.fromarray(values), "PNG"))
    assert img.mode == "L"
    np.testing.assert_array_equal(np.asarray(img), (values.astype(np.uint32) + 128) // 257)
    assert np.asarray(img).max() == 4  # Pillow's own conversion answers 255 for nearly all of these


def test_decode_full_range_16bit_grey_maps_ends_to_0_and_255():
    img = decode(_save(Image.fromarray(np.array([[0, 65535]], dtype=np.uint16)), "PNG"))
    assert np.asarray(img).tolist() == [[0, 255]]


def test_decode_applies_exif_orientation_and_drops_the_tag():
    pixels = np.random.default_rng(0).integers(0, 256, (10, 30), dtype=np.uint8)
    exif = Image.Exif()
    exif[ORIENTATION] = 6  # stored sideways: rotate 270 degrees to view
    img = decode(_save(Image.fromarray(pixels), "PNG", exif=exif.tobytes()))
    np.testing.assert_array_equal(np.asarray(img), np.rot90(pixels, -1))
    assert img.getexif().get(ORIENTATION) in (None, 1)


def test_decode_path_and_bytes_give_the_same_pixels(tmp_path: Path):
    pixels = np.random.default_rng(1).integers(0, 256, (20, 12, 3), dtype=np.uint8)
    path = tmp_path / "a.jpg"
    Image.fromarray(pixels).save(path, quality=85)
    from_path, from_bytes = decode(path), decode(path.read_bytes())
    assert from_path.size == (12, 20) and from_path.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(from_path), np.asarray(from_bytes))


def test_decode_at_least_decodes_a_large_jpeg_at_reduced_scale():
    data = _save(Image.new("RGB", (800, 1200), (90, 120, 200)), "JPEG")
    assert decode(data, at_least=100).size == (100, 150)  # 1/8: the smallest keeping both sides >= 100
    assert decode(data, at_least=300).size == (400, 600)
    assert decode(data).size == (800, 1200)


def test_decode_not_an_image_raises_pillows_error():
    with pytest.raises(UnidentifiedImageError):
        decode(b"not an image at all")


def test_open_image_reads_the_header_without_decoding_pixels():
    img = open_image(_save(Image.new("L", (7, 5)), "PNG"))
    assert img.size == (7, 5) and img.format == "PNG" and img.tile  # tiles left to decode
