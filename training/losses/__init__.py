"""Metric-learning losses for the encoders: contrastive, triplet (semi-hard, batch-hard), multi-similarity
and ArcFace. `make_loss` builds one by name; `contrastive_pair_loss` serves the balanced pair sampler.
"""

from __future__ import annotations

from training.losses.arcface import ArcFaceLoss
from training.losses.base import MetricLoss
from training.losses.contrastive import ContrastiveLoss, contrastive_pair_loss
from training.losses.multi_similarity import MultiSimilarityLoss
from training.losses.triplet import BatchHardTripletLoss, SemiHardTripletLoss

LOSSES = ("contrastive", "triplet-semihard", "triplet-batchhard", "multi-similarity", "arcface")

__all__ = [
    "LOSSES",
    "ArcFaceLoss",
    "BatchHardTripletLoss",
    "ContrastiveLoss",
    "MetricLoss",
    "MultiSimilarityLoss",
    "SemiHardTripletLoss",
    "contrastive_pair_loss",
    "make_loss",
]


def make_loss(
    name: str,
    *,
    embedding_dim: int,
    num_classes: int,
    margin: float | None = None,
    scale: float | None = None,
) -> MetricLoss:
    """Build a loss by name; `margin=None` takes the loss's default.

    margin means: contrastive, the negative-pair distance margin (default 1.0); triplet-*, the triplet
    margin (0.2); multi-similarity, the miner's epsilon (0.1); arcface, the angular margin in radians (0.5).
    `scale` is ArcFace's logit scale (default 30) and is refused by the other losses.
    """
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; choose one of {LOSSES}")
    if margin is not None and margin < 0:
        raise ValueError(f"margin must be non-negative, got {margin}")
    if scale is not None and name != "arcface":
        raise ValueError(f"scale applies only to arcface, not {name!r}")
    if embedding_dim < 1:
        raise ValueError(f"embedding_dim must be positive, got {embedding_dim}")
    kwargs = {} if margin is None else {"margin": margin}
    if name == "arcface":
        if scale is not None:
            kwargs["scale"] = scale
        return ArcFaceLoss(embedding_dim=embedding_dim, num_classes=num_classes, **kwargs)
    simple = {
        "contrastive": ContrastiveLoss,
        "triplet-semihard": SemiHardTripletLoss,
        "triplet-batchhard": BatchHardTripletLoss,
        "multi-similarity": MultiSimilarityLoss,
    }
    return simple[name](**kwargs)
