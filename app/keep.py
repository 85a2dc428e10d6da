"""What a gallery keeps of each enrolled image: the upload's own bytes when they fit the size cap (else a
JPEG re-encoded under it, upright, shrunk as far as needed), and a small JPEG thumbnail for listings.

The kept image is what a model migration re-embeds, so an upload kept as is embeds exactly as it did.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image

from app.imaging import FORMATS, Upload, to_8bit, upright
from gallery.types import KeptImage

JPEG = "image/jpeg"
REENCODE_QUALITIES = (90, 80, 70)  # tried in turn at each size before shrinking further
SHRINK = 0.8  # each further try scales both sides by this
MIN_SIDE = 256  # a re-encoded copy is never shrunk below this longest side (it may then pass the cap)
THUMBNAIL_QUALITY = 80


@dataclass(frozen=True)
class KeepConfig:
    """The size cap of a kept image (SG_KEPT_IMAGE_MAX_KB) and the thumbnail's longest side."""

    max_bytes: int = 2 * 1024 * 1024
    thumbnail_side: int = 160


def keep_image(upload: Upload, config: KeepConfig) -> KeptImage:
    """The image and thumbnail to keep for one upload (which enroll has already decoded once)."""
    with Image.open(io.BytesIO(upload.data), formats=FORMATS) as img:
        img.load()
        mime = Image.MIME.get(img.format or "", "application/octet-stream")
        picture = _displayable(img)
    thumbnail = _jpeg(_thumbnail(picture, config.thumbnail_side), THUMBNAIL_QUALITY)
    if len(upload.data) <= config.max_bytes:
        data, content_type, size, reencoded = upload.data, mime, picture.size, False
    else:
        data, size = _reencode(picture, config.max_bytes)
        content_type, reencoded = JPEG, True
    return KeptImage(
        data=data,
        content_type=content_type,
        width=size[0],
        height=size[1],
        reencoded=reencoded,
        thumbnail=thumbnail,
        thumbnail_type=JPEG,
    )


def _displayable(img: Image.Image) -> Image.Image:
    """Upright, 8-bit, and grey ("L") or RGB, with any transparency laid on white: what a JPEG can hold."""
    ready = to_8bit(upright(img))
    if ready.mode in ("RGBA", "LA", "PA") or (ready.mode == "P" and "transparency" in ready.info):
        rgba = ready.convert("RGBA")
        backdrop = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(backdrop, rgba).convert("RGB")
    return ready if ready.mode in ("L", "RGB") else ready.convert("RGB")


def _thumbnail(img: Image.Image, side: int) -> Image.Image:
    small = img.copy()
    small.thumbnail((side, side), Image.Resampling.LANCZOS)
    return small


def _reencode(img: Image.Image, max_bytes: int) -> tuple[bytes, tuple[int, int]]:
    """The best JPEG under `max_bytes`: the highest quality at the largest size that fits, shrinking by
    SHRINK until the longest side would pass under MIN_SIDE (the last try is kept even if over the cap)."""
    current = img
    while True:
        for quality in REENCODE_QUALITIES:
            data = _jpeg(current, quality)
            if len(data) <= max_bytes:
                return data, current.size
        width, height = current.size
        if max(width, height) * SHRINK < MIN_SIDE:
            return data, current.size
        size = (max(1, round(width * SHRINK)), max(1, round(height * SHRINK)))
        current = img.resize(size, Image.Resampling.LANCZOS)


def _jpeg(img: Image.Image, quality: int) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format="JPEG", quality=quality, optimize=True)
    return buffer.getvalue()
