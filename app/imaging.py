"""Safe image decoding: reject empty, non-image, truncated and oversized (decompression bomb) uploads.

The decode itself (EXIF upright, 16-bit grey to 8-bit, reduced-scale JPEG) is `modelcard.decode`, the one
training uses too; decoded images then go through `modelcard.preprocess` for the card's colour mode and size.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError

from app.errors import BadImage, ImageTooLarge, MultipleFaces, NoFace
from modelcard import InputSpec, preprocess
from modelcard.align import Box, FaceAligner
from modelcard.align import NoFace as NoFaceFound
from modelcard.decode import FORMATS, finish, load_pixels, open_image
from modelcard.decode import to_8bit as to_8bit  # the shared steps, also read from here (bench.stages)
from modelcard.decode import upright as upright

DRAFT_MARGIN = 2  # JPEG draft decoding keeps at least this many times the model's input size per side
# Cost caps beside the pixel cap (SG_MAX_IMAGE_SIDE, SG_MAX_IMAGE_ASPECT): decoding pays per row as well as per
# pixel, so a 1 x 40,000,000 PNG (78 KB, under the pixel cap) took seconds to decode; these refuse it from
# its header. Pillow has no decode timeout, so the caps are what bound the decode time.
MAX_SIDE = 12_000
MAX_ASPECT = 20.0


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


@dataclass(frozen=True)
class FaceFound:
    """Where the face of one image was (`box`: left, top, right, bottom in the image's own pixels, EXIF
    orientation applied), whether the detector found it or the image was taken as a face crop, and how
    many faces the detector found."""

    box: Box
    detected: bool
    faces: int


@dataclass(frozen=True)
class Prepared:
    """The encoder's input batch, and per image the face it holds (None for models without alignment)."""

    batch: np.ndarray
    faces: list[FaceFound | None]


def check_size(
    size: tuple[int, int], *, max_pixels: int, max_side: int, max_aspect: float, filename: str
) -> None:
    """ImageTooLarge when a header's size passes the pixel cap, the side cap or the aspect-ratio cap."""
    width, height = max(1, size[0]), max(1, size[1])
    shape = f"{filename}: {size[0]}x{size[1]} pixels"
    if width * height > max_pixels:
        raise ImageTooLarge(f"{shape} exceeds the cap of {max_pixels} (SG_MAX_IMAGE_PIXELS)")
    if max(width, height) > max_side:
        raise ImageTooLarge(f"{shape}: a side exceeds the cap of {max_side} (SG_MAX_IMAGE_SIDE)")
    if max(width, height) / min(width, height) > max_aspect:
        raise ImageTooLarge(f"{shape}: the aspect ratio exceeds {max_aspect:g}:1 (SG_MAX_IMAGE_ASPECT)")


def decode_image(
    upload: Upload,
    *,
    max_pixels: int,
    max_side: int = MAX_SIDE,
    max_aspect: float = MAX_ASPECT,
    at_least: int | None = None,
) -> Image.Image:
    """Open and fully decode one upload, checking the pixel, side and aspect caps from the header first.

    `at_least`: a JPEG may be decoded at 1/2, 1/4 or 1/8 scale (in the DCT, far cheaper than decoding every
    pixel and shrinking afterwards) as long as both sides stay at least this many pixels.
    """
    if not upload.data:
        raise BadImage(f"{upload.filename}: empty file")
    try:
        img = open_image(upload.data, formats=FORMATS)
        check_size(
            img.size,
            max_pixels=max_pixels,
            max_side=max_side,
            max_aspect=max_aspect,
            filename=upload.filename,
        )
        img.info["full_scale"] = load_pixels(img, at_least=at_least)  # > 1 after a reduced-scale decode
    except Image.DecompressionBombError as exc:  # the header's size is past what the decoder opens at all
        raise ImageTooLarge(
            f"{upload.filename}: the header declares over {2 * Image.MAX_IMAGE_PIXELS} pixels; the cap is "
            f"{max_pixels} (SG_MAX_IMAGE_PIXELS)"
        ) from exc
    except UnidentifiedImageError as exc:
        raise BadImage(f"{upload.filename}: not a supported image ({', '.join(FORMATS)})") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise BadImage(f"{upload.filename}: cannot decode image ({exc})") from exc
    return img


def decode_floor(spec: InputSpec) -> int:
    """The fewest pixels per side a reduced-scale JPEG decode may keep for this card: twice the model's input,
    and for face detection at least the detector's working size."""
    at_least = DRAFT_MARGIN * max(spec.height, spec.width)
    return at_least if spec.align is None else max(at_least, spec.align.detect_max_side)


def _face(
    aligner: FaceAligner, img: Image.Image, upload: Upload, *, single: bool, scale: float
) -> tuple[Image.Image, FaceFound]:
    """The face chip of `img`, and where the face was in the upload's own pixels (`scale`: how many of them
    each decoded pixel stands for, over 1 after a reduced-scale decode)."""
    try:
        face = aligner.align(img)
    except NoFaceFound as exc:
        raise NoFace(f"{upload.filename}: {exc}") from exc
    if single and face.faces > 1:
        raise MultipleFaces(f"{upload.filename}: {face.faces} faces found; send an image of one face")
    box = tuple(round(v * scale) for v in face.box)
    return face.chip, FaceFound(box=box, detected=face.detected, faces=face.faces)  # type: ignore[arg-type]


def prepare_images(
    uploads: Sequence[Upload],
    spec: InputSpec,
    *,
    max_pixels: int,
    max_side: int = MAX_SIDE,
    max_aspect: float = MAX_ASPECT,
    aligner: FaceAligner | None = None,
    single_face: bool = False,
) -> Prepared:
    """Decode, align (for a card with `input.align`) and preprocess every upload; fail on the first bad one.

    Large JPEGs are decoded at reduced scale, keeping at least twice the model's input size on each side
    (whatever the EXIF orientation), so the final resize still averages several source pixels per input pixel;
    for face detection, at least the detector's working size. With an aligner, an image without a face is
    NoFace, and with `single_face` an image with several is MultipleFaces; else the largest face is used.
    """
    if (aligner is None) != (spec.align is None):
        raise ValueError("an aligned input spec needs an aligner, and only it")
    arrays, faces = [], []
    at_least = decode_floor(spec)
    for upload in uploads:
        img = decode_image(
            upload, max_pixels=max_pixels, max_side=max_side, max_aspect=max_aspect, at_least=at_least
        )
        face = None
        try:
            ready = finish(img)
            if aligner is not None:
                scale = float(img.info.get("full_scale", 1.0))
                ready, face = _face(aligner, ready, upload, single=single_face, scale=scale)
            arrays.append(preprocess(ready, spec))
            faces.append(face)
        except (OSError, ValueError) as exc:
            raise BadImage(f"{upload.filename}: cannot convert image ({exc})") from exc
        finally:
            img.close()
    return Prepared(np.stack(arrays).astype(np.float32, copy=False), faces)
