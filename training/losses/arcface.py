"""ArcFace additive angular margin softmax (Deng et al. 2019), from pytorch-metric-learning.

It holds one learned weight vector per training class, so the optimizer must also get `loss.parameters()`.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from pytorch_metric_learning import losses as pml_losses
from torch import Tensor

from training.losses.base import MetricLoss


class ArcFaceLoss(MetricLoss):
    """Softmax over scale * cos(angle to each class weight), with `margin` (radians) added to the true
    class's angle. Labels must be 0 .. num_classes - 1.

    The default scale 30 is ample for a few thousand classes (Wang et al. 2018's lower bound is about 12
    for 1000 classes at p = 0.99) and trains more gently on small sets than the paper's 64.
    """

    name = "arcface"

    def __init__(
        self, *, embedding_dim: int, num_classes: int, margin: float = 0.5, scale: float = 30.0
    ) -> None:
        if num_classes < 2:
            raise ValueError(f"arcface needs at least 2 training classes, got {num_classes}")
        if not 0 <= margin < math.pi / 2:
            raise ValueError(f"arcface margin is in radians and must be in [0, pi/2), got {margin}")
        super().__init__(margin=margin)
        self.num_classes, self.scale = num_classes, float(scale)
        self.loss = pml_losses.ArcFaceLoss(
            num_classes=num_classes, embedding_size=embedding_dim, margin=math.degrees(margin), scale=scale
        )

    @property
    def config(self) -> dict[str, Any]:
        return {**super().config, "scale": self.scale, "num_classes": self.num_classes}

    @property
    def class_weights(self) -> torch.nn.Parameter:
        """The (embedding_dim, num_classes) class weight matrix."""
        return self.loss.W

    def compute(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        if len(labels) and (int(labels.min()) < 0 or int(labels.max()) >= self.num_classes):
            raise ValueError(f"arcface labels must be in [0, {self.num_classes}), got {labels.tolist()[:10]}")
        return self.loss(embeddings, labels)
