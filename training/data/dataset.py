"""Torch dataset over records: every image is decoded once, then served as a preprocessed CHW tensor.

Without augmentation the cache holds each image's uint8 pixels after the card's geometry (`modelcard.resized`),
a quarter of the float32 input's size, and an item is `modelcard.normalized` of them: exactly
`modelcard.preprocess(open_image(r), spec)`, the serving path. With augmentation each item is distorted afresh
(seeded by seed, epoch and index) and then preprocessed.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np
import torch
from PIL import Image

from modelcard import InputSpec, preprocess
from modelcard.preprocess import normalized, resized, to_mode
from training.data.aligned import aligned_image
from training.data.augment import AugmentConfig, augment_image
from training.data.records import Record, open_image

T = TypeVar("T")


def _map_threads(fn: Callable[[Record], T], records: Sequence[Record], threads: int) -> list[T]:
    if threads <= 1 or len(records) < 2:
        return [fn(r) for r in records]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(fn, records, chunksize=64))


def working_size(size: tuple[int, int], spec: InputSpec) -> tuple[int, int]:
    """Size to cache an image at for augmentation: large enough for the input, at most 2x where it can be.

    stretch: each side capped at 2x the input side. pad: aspect kept, both sides within 2x. center_crop:
    aspect kept, the side that is cropped away may stay longer, so the crop keeps its resolution.
    """
    (w, h), (lw, lh) = size, (2 * spec.width, 2 * spec.height)
    if spec.resize == "stretch":
        return min(w, lw), min(h, lh)
    pick = max if spec.resize == "center_crop" else min
    ratio = pick(lw / w, lh / h)
    return size if ratio >= 1 else (max(1, round(w * ratio)), max(1, round(h * ratio)))


def source_image(record: Record, spec: InputSpec) -> Image.Image:
    """The image preprocessing starts from: the decoded file, or its face chip when the card aligns faces."""
    return open_image(record) if spec.align is None else aligned_image(record, spec.align)


def _working_image(record: Record, spec: InputSpec) -> Image.Image:
    img = to_mode(source_image(record, spec), spec)
    size = working_size(img.size, spec)
    return img if size == img.size else img.resize(size, Image.Resampling.BILINEAR)


class ImageDataset(torch.utils.data.Dataset):
    """Items are (float32 CHW tensor, label index); `labels[i]` indexes `classes` (sorted unless given).

    Attributes: records, spec, augment, seed, epoch, classes, labels. `threads` (default min(4, CPUs))
    decodes the cache in a thread pool. With augmentation, an index drawn twice in one epoch gets the
    same distortion. A DataLoader's worker processes see `set_epoch` only if they are started after it.
    """

    def __init__(
        self,
        records: Sequence[Record],
        spec: InputSpec,
        *,
        augment: AugmentConfig | None = None,
        classes: Sequence[str] | None = None,
        seed: int = 0,
        threads: int | None = None,
    ) -> None:
        self.records, self.spec, self.augment, self.seed, self.epoch = list(records), spec, augment, seed, 0
        self.classes = sorted({r.label for r in self.records}) if classes is None else list(classes)
        self.labels = self._label_indices()
        threads = min(4, os.cpu_count() or 1) if threads is None else threads
        if augment is None:
            pixels = _map_threads(lambda r: resized(source_image(r, spec), spec), self.records, threads)
            shape = (0, spec.height, spec.width) + ((spec.channels,) if spec.channels > 1 else ())
            self._pixels = np.stack(pixels) if pixels else np.zeros(shape, dtype=np.uint8)
        else:
            self._images = _map_threads(lambda r: _working_image(r, spec), self.records, threads)

    def _label_indices(self) -> list[int]:
        index = {c: i for i, c in enumerate(self.classes)}
        if len(index) != len(self.classes):
            raise ValueError("classes must not repeat")
        missing = sorted({r.label for r in self.records} - index.keys())
        if missing:
            raise ValueError(f"{len(missing)} record labels are not in classes, e.g. {missing[:5]}")
        return [index[r.label] for r in self.records]

    def set_epoch(self, epoch: int) -> None:
        """Choose the augmentation draws: items differ between epochs and repeat within one."""
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise ValueError(f"epoch must be an integer >= 0, got {epoch!r}")
        self.epoch = epoch

    @property
    def cache_bytes(self) -> int:
        """Bytes the decoded images hold: one byte per pixel and channel without augmentation."""
        if self.augment is None:
            return int(self._pixels.nbytes)
        return sum(len(img.mode) * img.width * img.height for img in self._images)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        i = range(len(self.records))[i]
        if self.augment is None:
            return torch.from_numpy(normalized(self._pixels[i], self.spec)), self.labels[i]
        rng = random.Random(f"{self.seed}:{self.epoch}:{i}")
        img = augment_image(self._images[i], self.augment, rng)
        return torch.from_numpy(preprocess(img, self.spec)), self.labels[i]

    def stack(self, indices: Sequence[int]) -> torch.Tensor:
        """The items' tensors as one NCHW batch."""
        if len(indices) == 0:
            return torch.zeros((0, self.spec.channels, self.spec.height, self.spec.width))
        return torch.stack([self[i][0] for i in indices])
