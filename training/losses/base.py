"""The metric-loss base class: embeddings (B, D) and integer labels (B,) in, a scalar loss out."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor


class MetricLoss(torch.nn.Module):
    """A loss over a batch of L2-normalized embeddings and their integer class labels.

    Subclasses set `name` and implement `compute`; `forward` checks the shapes first.
    `config` holds what the model card records about the loss.
    """

    name: str = ""

    def __init__(self, *, margin: float) -> None:
        super().__init__()
        self.margin = float(margin)

    @property
    def config(self) -> dict[str, Any]:
        return {"name": self.name, "margin": self.margin}

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        check_batch(embeddings, labels)
        return self.compute(embeddings, labels)

    def compute(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        raise NotImplementedError

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.config.items() if k != "name")


def check_batch(embeddings: Tensor, labels: Tensor) -> None:
    """Raise ValueError unless embeddings is (B, D) and labels is (B,) integer."""
    if embeddings.ndim != 2:
        raise ValueError(f"embeddings must be (batch, dim), got shape {tuple(embeddings.shape)}")
    if labels.ndim != 1 or labels.shape[0] != embeddings.shape[0]:
        raise ValueError(f"labels must be ({embeddings.shape[0]},), got shape {tuple(labels.shape)}")
    if labels.dtype.is_floating_point or labels.dtype == torch.bool:
        raise ValueError(f"labels must be integers, got {labels.dtype}")


def squared_distances(x: Tensor) -> Tensor:
    """All pairwise squared L2 distances of the rows of x, clipped at 0."""
    sq = (x * x).sum(dim=1)
    return (sq[:, None] + sq[None, :] - 2.0 * (x @ x.T)).clamp_min(0.0)


def distances(x: Tensor) -> Tensor:
    """All pairwise L2 distances; the clamp keeps the gradient finite where a distance is 0."""
    return squared_distances(x).clamp_min(1e-12).sqrt()


def pair_masks(labels: Tensor) -> tuple[Tensor, Tensor]:
    """(positive, negative) boolean (B, B) masks; the diagonal is in neither."""
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    return same & ~eye, ~same


def zero_loss(embeddings: Tensor) -> Tensor:
    """A zero that stays attached to the graph, for batches with nothing to learn from."""
    return embeddings.sum() * 0.0
