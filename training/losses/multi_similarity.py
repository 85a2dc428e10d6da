"""Multi-similarity loss with its pair miner (Wang et al. 2019), from pytorch-metric-learning."""

from __future__ import annotations

from typing import Any

from pytorch_metric_learning import losses as pml_losses
from pytorch_metric_learning import miners as pml_miners
from torch import Tensor

from training.losses.base import MetricLoss


class MultiSimilarityLoss(MetricLoss):
    """Multi-similarity loss on cosine similarities S, after mining informative pairs.

    The miner keeps a positive pair if S(a, p) - margin < the anchor's largest negative similarity, and a
    negative pair if S(a, n) + margin > its smallest positive similarity (`margin` is the paper's epsilon).
    Per anchor: log(1 + sum_P exp(-alpha (S - base))) / alpha + log(1 + sum_N exp(beta (S - base))) / beta,
    averaged over the batch; a batch where nothing is mined has loss 0.
    """

    name = "multi-similarity"

    def __init__(
        self, *, margin: float = 0.1, alpha: float = 2.0, beta: float = 50.0, base: float = 0.5
    ) -> None:
        super().__init__(margin=margin)
        self.alpha, self.beta, self.base = float(alpha), float(beta), float(base)
        self.miner = pml_miners.MultiSimilarityMiner(epsilon=margin)
        self.loss = pml_losses.MultiSimilarityLoss(alpha=alpha, beta=beta, base=base)

    @property
    def config(self) -> dict[str, Any]:
        return {**super().config, "alpha": self.alpha, "beta": self.beta, "base": self.base}

    def compute(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        return self.loss(embeddings, labels, self.miner(embeddings, labels))
