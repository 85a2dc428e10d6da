"""Flip averaging at test time: an encoder's embeddings of an image and of its mirror images, summed and
L2-normalized again, so the embedding does not depend on the image's orientation (textures, surfaces)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, flip, nn

from training.encoders.base import NORM_EPS

FLIPS: dict[str, tuple[tuple[int, ...], ...]] = {
    "h": ((), (3,)),  # the image and its left-right mirror
    "hv": ((), (3,), (2,), (2, 3)),  # and its upside-down one, and both
}


class FlipAverage(nn.Module):
    """`model` over the image and its flips (`FLIPS[mode]`, dims of an NCHW batch), averaged."""

    def __init__(self, model: nn.Module, mode: str) -> None:
        super().__init__()
        if mode not in FLIPS:
            raise ValueError(f"flip averaging must be one of {sorted(FLIPS)}, got {mode!r}")
        self.model, self.mode = model, mode

    def forward(self, x: Tensor) -> Tensor:
        total = sum(self.model(flip(x, dims) if dims else x) for dims in FLIPS[self.mode])
        return F.normalize(total, p=2.0, dim=1, eps=NORM_EPS)
