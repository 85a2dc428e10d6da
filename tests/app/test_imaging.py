"""Safe decoding: every kind of bad upload is refused with a named error before any model runs."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
from PIL import Image

from app.errors import BadImage, ImageTooLarge
from app.imaging import Upload, decode_image, prepare_images
from modelcard import InputSpec

SIDE = 16  # the tiny encoder's input side (conftest)
SPEC = InputSpec(height=SIDE, width=SIDE, channels=1, mean=(0.5,), std=(0.5,))


def test_decode_image_valid_png_returns_loaded_image(helpers):
    img = decode_image(Upload("a.png", helpers.png(helpers.pattern("a"))), max_pixels=1000)
    assert img.size == (SIDE, SIDE)


def test_decode_image_empty_raises_bad_image():
    with pytest.raises(BadImage, match="empty"):
        decode_image(Upload("a.jpg", b""), max_pixels=1000)


def test_decode_image_text_raises_bad_image():
    with pytest.raises(BadImage, match="not a supported image"):
        decode_image(Upload("a.jpg", b"definitely not a jpeg\n" * 10), max_pixels=1000)


def test_decode_image_truncated_raises_bad_image(helpers):
    with pytest.raises(BadImage):
        decode_image(Upload("a.jpg", helpers.truncated_jpeg()), max_pixels=10_000)


def test_decode_image_over_pixel_cap_raises_image_too_large(helpers):
    with pytest.raises(ImageTooLarge, match="exceeds the cap"):
        decode_image(Upload("a.png", helpers.png(helpers.pattern("a"))), max_pixels=SIDE * SIDE - 1)


def test_decode_image_bomb_header_raises_image_too_large_without_decoding(helpers):
    with pytest.raises(
        ImageTooLarge,
        match=r"bomb.png: the header declares over \d+ pixels; the cap is 1000000000000 \(SG_MAX",
    ):
        decode_image(Upload("bomb.png", helpers.bomb_png(100_000, 100_000)), max_pixels=10**12)


def test_prepare_images_stacks_card_shaped_arrays(helpers):
    batch = prepare_images(
        [
            Upload("a.png", helpers.png(helpers.pattern("a"))),
            Upload("b.png", helpers.png(helpers.pattern("b"))),
        ],
        SPEC,
        max_pixels=10**6,
    ).batch
    assert batch.shape == (2, 1, SIDE, SIDE) and batch.dtype == np.float32
    assert batch.min() >= -1.0 and batch.max() <= 1.0


def test_prepare_images_one_bad_image_fails_whole_batch(helpers):
    with pytest.raises(BadImage, match="b.png"):
        prepare_images(
            [Upload("a.png", helpers.png(helpers.pattern("a"))), Upload("b.png", b"\x89PNG broken")],
            SPEC,
            max_pixels=10**6,
        )


def test_prepare_images_16bit_grey_scales_like_its_8bit_version(helpers):
    eight = helpers.pattern("a")
    buffer = io.BytesIO()
    Image.fromarray(eight.astype(np.uint16) * 257).save(buffer, format="PNG")  # 16-bit grey PNG
    uploads = [Upload("a16.png", buffer.getvalue()), Upload("a8.png", helpers.png(eight))]
    batch = prepare_images(uploads, SPEC, max_pixels=10**6).batch
    np.testing.assert_allclose(batch[0], batch[1], atol=1e-6)


def _png_bytes(img: Image.Image, **options: object) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format="PNG", **options)
    return buffer.getvalue()


def test_prepare_images_corrupt_exif_is_ignored_and_pixels_used_as_stored(helpers):
    img = Image.fromarray(helpers.pattern("a"))
    corrupt = _png_bytes(img, exif=b"Exif\x00\x00MM\xd4*\x00\x00\x00\x08\x00\x00")  # not a TIFF header
    uploads = [Upload("corrupt.png", corrupt), Upload("plain.png", _png_bytes(img))]
    batch = prepare_images(uploads, SPEC, max_pixels=10**6).batch
    np.testing.assert_array_equal(batch[0], batch[1])


def test_prepare_images_exif_orientation_is_applied_once(helpers):
    img = Image.fromarray(np.random.default_rng(0).integers(0, 256, (10, 30), dtype=np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: rotate 270 degrees to view
    uploads = [
        Upload("tagged.png", _png_bytes(img, exif=exif.tobytes())),
        Upload("upright.png", _png_bytes(img.transpose(Image.Transpose.ROTATE_270))),
    ]
    batch = prepare_images(uploads, SPEC, max_pixels=10**6).batch
    np.testing.assert_array_equal(batch[0], batch[1])


def _large_jpeg(width: int = 1200, height: int = 1600) -> bytes:
    yy, xx = np.mgrid[0:height, 0:width]
    pixels = np.stack([np.sin(xx / 37) * 120 + 128, np.cos(yy / 53) * 120 + 128, (xx + yy) % 256], -1)
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def test_decode_image_large_jpeg_with_at_least_decodes_at_reduced_scale():
    upload = Upload("big.jpg", _large_jpeg())
    img = decode_image(upload, max_pixels=10**8, at_least=128)
    assert img.size == (150, 200)  # 1/8 scale: the smallest that keeps both sides >= 128
    assert decode_image(upload, max_pixels=10**8).size == (1200, 1600)


def test_decode_image_png_ignores_at_least(helpers):
    img = decode_image(Upload("a.png", helpers.png(helpers.pattern("a"))), max_pixels=1000, at_least=2)
    assert img.size == (SIDE, SIDE)


def test_prepare_images_reduced_scale_jpeg_matches_full_decode_closely(monkeypatch):
    upload = Upload("big.jpg", _large_jpeg())
    spec = InputSpec(height=64, width=64, channels=3, mean=(0.5,) * 3, std=(0.5,) * 3)
    reduced = prepare_images([upload], spec, max_pixels=10**8).batch
    monkeypatch.setattr("app.imaging.DRAFT_MARGIN", 100)  # asks for more than the image has: full decode
    full = prepare_images([upload], spec, max_pixels=10**8).batch
    assert np.abs(reduced - full).mean() < 0.01 and np.abs(reduced - full).max() < 0.1


def test_decode_image_one_pixel_wide_png_under_pixel_cap_refused_from_its_header(helpers):
    # the header claims 1 x 40,000,000 but the data is a 64 x 64 image's: decoding it would answer BadImage,
    # so ImageTooLarge shows the header alone decided
    claimed = Upload("tall.png", helpers.bomb_png(1, 40_000_000))
    with pytest.raises(ImageTooLarge, match="SG_MAX_IMAGE_SIDE"):
        decode_image(claimed, max_pixels=40_000_000)


def test_decode_image_real_one_pixel_wide_png_refused_in_milliseconds(helpers):
    tall = Upload("tall.png", helpers.flat_png(1, 40_000_000))
    started = time.perf_counter()
    with pytest.raises(ImageTooLarge):
        decode_image(tall, max_pixels=40_000_000)
    assert time.perf_counter() - started < 0.5  # a full decode took 2-11 s


@pytest.mark.parametrize(("width", "height"), [(2_000, 50), (50, 2_000)])
def test_decode_image_extreme_aspect_ratio_refused_from_its_header(helpers, width, height):
    with pytest.raises(ImageTooLarge, match="aspect ratio exceeds 20:1"):
        decode_image(Upload("strip.png", helpers.bomb_png(width, height)), max_pixels=10**9)


def test_decode_image_at_the_side_and_aspect_caps_is_accepted(helpers):
    img = decode_image(
        Upload("strip.png", helpers.flat_png(400, 20)), max_pixels=8_000, max_side=400, max_aspect=20
    )
    assert img.size == (400, 20)
    with pytest.raises(ImageTooLarge, match="SG_MAX_IMAGE_SIDE"):
        decode_image(Upload("strip.png", helpers.flat_png(400, 20)), max_pixels=8_000, max_side=399)
