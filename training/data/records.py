"""An image dataset is a list of `Record`s: where the image lives, its class, and its group.

Every loader returns `list[Record]`; splits, samplers and evaluation work on records and labels alone.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from functools import lru_cache

from PIL import Image

from modelcard.decode import decode

ZIP_SEP = "::"


@dataclass(frozen=True)
class Record:
    """One image.

    source: a file path, or "<zip path>::<member>" for an image inside a zip archive,
            or "<idx path>::<index>" for an image inside an MNIST IDX file.
    label:  the class, unique across the whole dataset (e.g. "Greek/character01", "celeba/7303").
    group:  the super-class used by group splits and within-group tasks
            (the Omniglot alphabet, or the source set such as "neu" / "magnetic_tile").
    rotate: degrees (a multiple of 90) the decoded image is turned counter-clockwise; lets rotated copies of
            a class serve as new classes (see `with_rotated_classes`).
    """

    source: str
    label: str
    group: str = ""
    rotate: int = 0


def with_rotated_classes(records: list[Record], angles: tuple[int, ...] = (90, 180, 270)) -> list[Record]:
    """Add each class turned by each angle as a new class ("<label>@rot<angle>"), as in Prototypical Networks.

    Only for training classes of domains where a turned class is a different class (handwritten characters).
    """
    for angle in angles:
        if angle % 90 or not 0 < angle < 360:
            raise ValueError(f"rotation angles must be 90, 180 or 270, got {angle}")
    extra = [Record(r.source, f"{r.label}@rot{a}", r.group, rotate=a) for a in angles for r in records]
    return list(records) + extra


@lru_cache(maxsize=8)
def _zip(path: str) -> zipfile.ZipFile:
    return zipfile.ZipFile(path)


def open_image(record: Record) -> Image.Image:
    """Decode a record's image the way the service does (`modelcard.decode`: EXIF upright, 16-bit grey scaled
    to 8 bits; the file is closed before returning), then turned by `record.rotate`."""
    img = _decode(record)
    return img.rotate(record.rotate, expand=True) if record.rotate else img


def _decode(record: Record) -> Image.Image:
    if ZIP_SEP in record.source:
        container, member = record.source.split(ZIP_SEP, 1)
        if container.lower().endswith(".zip"):
            return decode(_zip(container).read(member))
        from training.data.mnist import read_idx_image  # IDX containers

        return read_idx_image(container, int(member))
    return decode(record.source)
