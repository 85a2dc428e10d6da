"""Scale averaging at test time: an encoder's embeddings of an image at its input size and resized (inside the
graph, bilinear) to other sizes, summed and L2-normalized again, so the embedding leans less on one scale of detail
(a crack's width in a tile). Plain bilinear, no antialiasing: ONNX opset 17's Resize exports it, and the torch
exporter has no antialiased one; from 224 to 192 px the aliasing is slight."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from training.encoders.base import NORM_EPS


class ScaleAverage(nn.Module):
    """`model` over its input and over that input resized to each of `sizes` (square, pixels), averaged."""

    def __init__(self, model: nn.Module, sizes: tuple[int, ...]) -> None:
        super().__init__()
        if not sizes or any(s < 8 for s in sizes):
            raise ValueError(f"need one or more sizes of at least 8 pixels, got {sizes}")
        self.model, self.sizes = model, tuple(sizes)

    def forward(self, x: Tensor) -> Tensor:
        total = self.model(x)
        for size in self.sizes:
            resized = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
            total = total + self.model(resized)
        return F.normalize(total, p=2.0, dim=1, eps=NORM_EPS)
