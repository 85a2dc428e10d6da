"""Two encoders side by side: each one's L2-normalized embedding, the second scaled by `weight`, concatenated and
L2-normalized again. The inner product of two such embeddings is (a . a' + w^2 b . b') / (1 + w^2): the two
encoders' cosine similarities averaged with weights 1 and w^2 (e.g. a fine-tuned encoder beside the frozen
ImageNet trunk it started from, whose features know more kinds of image)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from training.encoders.base import NORM_EPS


class Concatenated(nn.Module):
    """`first` and `second` on the same input, as above; `weight` >= 0 (0: `first` alone)."""

    def __init__(self, first: nn.Module, second: nn.Module, weight: float) -> None:
        super().__init__()
        if not weight >= 0:
            raise ValueError(f"the second encoder's weight must be >= 0, got {weight!r}")
        self.first, self.second, self.weight = first, second, float(weight)

    def forward(self, x: Tensor) -> Tensor:
        a = F.normalize(self.first(x), p=2.0, dim=1, eps=NORM_EPS)
        b = F.normalize(self.second(x), p=2.0, dim=1, eps=NORM_EPS)
        return F.normalize(torch.cat([a, self.weight * b], dim=1), p=2.0, dim=1, eps=NORM_EPS)
