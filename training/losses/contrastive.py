"""Contrastive loss (Hadsell, Chopra & LeCun 2006), on given pairs and on all pairs of a batch.

Per pair: L = y * d^2 + (1 - y) * max(0, m - d)^2, with d the L2 distance and y = 1 for the same class.
"""

from __future__ import annotations

import torch
from torch import Tensor

from training.losses.base import MetricLoss, pair_masks, squared_distances, zero_loss


def _per_pair(sq: Tensor, same: Tensor, margin: float) -> Tensor:
    hinge = (margin - sq.clamp_min(1e-12).sqrt()).clamp_min(0.0)
    return torch.where(same, sq, hinge * hinge)


def contrastive_pair_loss(a: Tensor, b: Tensor, same: Tensor, *, margin: float) -> Tensor:
    """Mean contrastive loss over the pairs (a[i], b[i]); `same` is 1/True where they share a class."""
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(f"a and b must both be (batch, dim), got {tuple(a.shape)} and {tuple(b.shape)}")
    if same.shape != a.shape[:1]:
        raise ValueError(f"same must be ({a.shape[0]},), got {tuple(same.shape)}")
    if margin <= 0:
        raise ValueError(f"contrastive margin must be positive, got {margin}")
    sq = ((a - b) ** 2).sum(dim=1)
    return _per_pair(sq, same.bool(), margin).mean()


class ContrastiveLoss(MetricLoss):
    """Contrastive loss on every pair i < j of the batch.

    Positive and negative pairs are weighted equally: L = (mean over positive pairs + mean over negative
    pairs) / 2, so a P x K batch (many more negatives than positives) does not drown its positives, and a
    balanced set of pairs gives the plain mean, as `contrastive_pair_loss` does. A batch with only one kind
    of pair uses that kind's mean.
    """

    name = "contrastive"

    def __init__(self, *, margin: float = 1.0) -> None:
        if margin <= 0:
            raise ValueError(f"contrastive margin must be positive, got {margin}")
        super().__init__(margin=margin)

    def compute(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        pos, neg = pair_masks(labels)
        upper = torch.ones_like(pos).triu(diagonal=1)
        pos, neg = pos & upper, neg & upper
        losses = _per_pair(squared_distances(embeddings), pos, self.margin)
        means = [losses[mask].mean() for mask in (pos, neg) if mask.any()]
        return torch.stack(means).mean() if means else zero_loss(embeddings)
