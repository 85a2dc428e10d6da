"""Triplet losses with FaceNet semi-hard mining and with batch-hard mining, on L2 distances.

Per triplet: max(0, d(a, p) - d(a, n) + margin).
"""

from __future__ import annotations

import torch
from pytorch_metric_learning import losses as pml_losses
from pytorch_metric_learning import miners as pml_miners
from pytorch_metric_learning.reducers import MeanReducer
from torch import Tensor

from training.losses.base import MetricLoss, distances, pair_masks, zero_loss


class SemiHardTripletLoss(MetricLoss):
    """FaceNet semi-hard triplets (Schroff et al. 2015), as TensorFlow's `triplet_semihard_loss` mines them.

    Every anchor-positive pair (a, p) takes the closest negative that is farther from a than p is
    (d(a, n) > d(a, p)); if there is none, it takes the farthest negative. The loss is the mean over all
    anchor-positive pairs whose anchor has a negative in the batch, zeros included.
    """

    name = "triplet-semihard"

    def __init__(self, *, margin: float = 0.2) -> None:
        super().__init__(margin=margin)

    def compute(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        dist = distances(embeddings)
        pos, neg = pair_masks(labels)
        pos = pos & neg.any(dim=1, keepdim=True)
        if not pos.any():
            return zero_loss(embeddings)
        farther = neg[:, None, :] & (dist[:, None, :] > dist[:, :, None])  # [a, p, n]
        inf = torch.full_like(dist, float("inf"))
        closest_farther = torch.where(farther, dist[:, None, :], inf[:, None, :]).amin(dim=2)
        farthest = torch.where(neg, dist, -inf).amax(dim=1, keepdim=True).expand_as(dist)
        chosen = torch.where(farther.any(dim=2), closest_farther, farthest)
        return (dist - chosen + self.margin).clamp_min(0.0)[pos].mean()


class BatchHardTripletLoss(MetricLoss):
    """Batch-hard triplets (Hermans et al. 2017): per anchor its farthest positive and closest negative.

    The loss is the mean over anchors that have both, zeros included (pytorch-metric-learning's
    BatchHardMiner and TripletMarginLoss with a plain mean).
    """

    name = "triplet-batchhard"

    def __init__(self, *, margin: float = 0.2) -> None:
        super().__init__(margin=margin)
        self.miner = pml_miners.BatchHardMiner()
        self.loss = pml_losses.TripletMarginLoss(margin=margin, reducer=MeanReducer())

    def compute(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        return self.loss(embeddings, labels, self.miner(embeddings, labels))
