"""Face chips for training and evaluation, cut by the card's own aligner (`modelcard.align`), once per image.

Every image of a face set is a crop, so an image with no face detected is aligned from landmarks found on the
whole crop (`strict=False`); the service applies the same path, plus a face check that refuses non-faces.
"""

from __future__ import annotations

import threading
from functools import lru_cache

from PIL import Image

from modelcard import AlignSpec
from modelcard.align import FaceAligner, find_landmarks_file
from training.data.records import Record, open_image

_lock = threading.Lock()
_chips: dict[tuple[str, int, AlignSpec], Image.Image] = {}


@lru_cache(maxsize=4)
def aligner_for(spec: AlignSpec) -> FaceAligner:
    """One aligner per spec, its landmarks from the package that ships them."""
    return FaceAligner(spec, find_landmarks_file(spec))


def aligned_image(record: Record, spec: AlignSpec) -> Image.Image:
    """The record's face chip (RGB, spec.chip square), cut once per process and then served from memory."""
    key = (record.source, record.rotate, spec)
    with _lock:
        chip = _chips.get(key)
    if chip is None:
        chip = aligner_for(spec).align(open_image(record), strict=False).chip
        with _lock:
            _chips[key] = chip
    return chip
