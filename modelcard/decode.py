"""Decode an image file the one way training and serving share: EXIF orientation applied, 16-bit grey scaled
to 8 bits, and (as an option) a large JPEG decoded at reduced scale. `modelcard.preprocess` starts from the
result. Cost caps and HTTP errors stay with the service (`app.imaging`), which calls the steps one by one.
"""

from __future__ import annotations

import io
import logging
import os

import numpy as np
from PIL import Image, ImageOps

FORMATS = ("JPEG", "PNG", "BMP", "GIF", "TIFF", "WEBP", "PPM")
EXIF_KEYS = ("exif", "Raw profile type exif")  # where Pillow keeps the raw EXIF block of a decoded image
SIXTEEN_BIT_GREY = ("I;16", "I;16B", "I;16L", "I;16N", "I")  # 16-bit PNG/TIFF/PGM grey decodes to these

Source = bytes | str | os.PathLike[str]
log = logging.getLogger(__name__)


def open_image(source: Source, *, formats: tuple[str, ...] | None = FORMATS) -> Image.Image:
    """The image's header only (size, mode, format), pixels not decoded yet; `formats=None` tries every
    format Pillow reads. Pillow raises UnidentifiedImageError for a file it cannot read."""
    return Image.open(io.BytesIO(source) if isinstance(source, bytes) else source, formats=formats)


def load_pixels(img: Image.Image, *, at_least: int | None = None) -> float:
    """Decode an opened image's pixels in place and return the decode's scale (file width / decoded width).

    `at_least`: a JPEG may be decoded at 1/2, 1/4 or 1/8 scale (in the DCT, far cheaper than decoding every
    pixel and shrinking afterwards) as long as both sides stay at least this many pixels.
    """
    full_width = img.size[0]
    if at_least is not None and img.format == "JPEG":
        img.draft(None, (at_least, at_least))
    img.load()
    return full_width / max(1, img.size[0])


def upright(img: Image.Image) -> Image.Image:
    """EXIF orientation applied; an EXIF block Pillow cannot parse or rewrite is ignored, pixels kept as stored.

    Broad on purpose: the EXIF parser raises SyntaxError, struct.error, TypeError and more on corrupt blocks,
    and a photo with damaged metadata is still a photo. The EXIF is dropped either way, so the orientation
    step of `modelcard.preprocess` finds nothing left to apply or to misread.
    """
    try:
        turned = ImageOps.exif_transpose(img)
    except Exception as exc:
        log.info("ignoring unreadable EXIF: %r", exc)
        turned = img.copy()
    for key in EXIF_KEYS:
        turned.info.pop(key, None)
    return turned


def to_8bit(img: Image.Image) -> Image.Image:
    """16-bit grey scaled to 8-bit "L" (65535 -> 255); Pillow's own conversion clips at 255. Others unchanged."""
    if img.mode not in SIXTEEN_BIT_GREY:
        return img
    values = np.clip(np.asarray(img), 0, 65535).astype(np.uint32)
    return Image.fromarray(((values + 128) // 257).astype(np.uint8))


def finish(img: Image.Image) -> Image.Image:
    """A loaded image made ready for preprocessing: upright, and 8-bit where it was 16-bit grey."""
    return to_8bit(upright(img))


def decode(
    source: Source, *, at_least: int | None = None, formats: tuple[str, ...] | None = None
) -> Image.Image:
    """Decode a file (bytes or a path) and make it ready for `modelcard.preprocess`; the file is closed before
    returning. `at_least` as in `load_pixels`; `formats` as in `open_image`, every format by default. Pillow's
    errors (UnidentifiedImageError, OSError and their kin) pass through."""
    with open_image(source, formats=formats) as img:
        load_pixels(img, at_least=at_least)
        return finish(img)  # always a new image, so closing the file leaves it whole
