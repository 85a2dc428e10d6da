"""Safe image decoding: reject empty, non-image, truncated and oversized (decompression bomb) uploads.

Decoded images then go through `modelcard.preprocess`, which applies EXIF orientation and the card's
colour mode.
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from app.errors import BadImage, ImageTooLarge
from modelcard import InputSpec, preprocess

FORMATS = ("JPEG", "PNG", "BMP", "GIF", "TIFF", "WEBP", "PPM")
log = logging.getLogger(__name__)
EXIF_KEYS = ("exif", "Raw profile type exif")  # where Pillow keeps the raw EXIF block of a decoded image
DRAFT_MARGIN = 2  # JPEG draft decoding keeps at least this many times the model's input size per side
SIXTEEN_BIT_GREY = ("I;16", "I;16B", "I;16L", "I;16N", "I")  # 16-bit PNG/TIFF/PGM grey decodes to these


@dataclass(frozen=True)
class Upload:
    """One uploaded file, already read from the request."""

    filename: str
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def upload_name(filename: str | None) -> str:
    """The name an upload goes by in messages: its filename, or "upload" when it was sent without one."""
    return filename or "upload"


def _check_pixels(size: tuple[int, int], *, max_pixels: int, filename: str) -> None:
    pixels = max(1, size[0]) * max(1, size[1])
    if pixels > max_pixels:
        raise ImageTooLarge(f"{filename}: {size[0]}x{size[1]} pixels exceeds the cap of {max_pixels}")


def decode_image(upload: Upload, *, max_pixels: int, at_least: int | None = None) -> Image.Image:
    """Open and fully decode one upload, checking the pixel cap from the header before decoding.

    `at_least`: a JPEG may be decoded at 1/2, 1/4 or 1/8 scale (in the DCT, far cheaper than decoding every
    pixel and shrinking afterwards) as long as both sides stay at least this many pixels.
    """
    if not upload.data:
        raise BadImage(f"{upload.filename}: empty file")
    try:
        img = Image.open(io.BytesIO(upload.data), formats=FORMATS)
        _check_pixels(img.size, max_pixels=max_pixels, filename=upload.filename)
        if at_least is not None and img.format == "JPEG":
            img.draft(None, (at_least, at_least))
        img.load()
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge(f"{upload.filename}: {exc}") from exc
    except UnidentifiedImageError as exc:
        raise BadImage(f"{upload.filename}: not a supported image ({', '.join(FORMATS)})") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise BadImage(f"{upload.filename}: cannot decode image ({exc})") from exc
    return img


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


def prepare_batch(uploads: Sequence[Upload], spec: InputSpec, *, max_pixels: int) -> np.ndarray:
    """Decode and preprocess every upload into an (n, C, H, W) float32 batch; fail on the first bad one.

    Large JPEGs are decoded at reduced scale, keeping at least twice the model's input size on each side
    (whatever the EXIF orientation), so the final resize still averages several source pixels per input pixel.
    """
    arrays = []
    at_least = DRAFT_MARGIN * max(spec.height, spec.width)
    for upload in uploads:
        img = decode_image(upload, max_pixels=max_pixels, at_least=at_least)
        try:
            arrays.append(preprocess(to_8bit(upright(img)), spec))
        except (OSError, ValueError) as exc:
            raise BadImage(f"{upload.filename}: cannot convert image ({exc})") from exc
        finally:
            img.close()
    return np.stack(arrays).astype(np.float32, copy=False)
