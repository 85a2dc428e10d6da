"""The evaluation metrics in one place (pure numpy: no torch, no I/O), on L2 embeddings and labels.

Distances are L2; a pair is accepted as "same" when its distance is <= the threshold.
"""

from training.evaluation.distances import pairwise_l2
from training.evaluation.fewshot import nway_kshot_accuracy
from training.evaluation.identification import kshot_top1, kshot_top1_by_class, open_set_identification
from training.evaluation.verification import (
    equal_error_rate,
    roc_auc,
    roc_curve,
    sample_verification_pairs,
    tar_at_far,
    verification_accuracy,
)

__all__ = [
    "equal_error_rate",
    "kshot_top1",
    "kshot_top1_by_class",
    "nway_kshot_accuracy",
    "open_set_identification",
    "pairwise_l2",
    "roc_auc",
    "roc_curve",
    "sample_verification_pairs",
    "tar_at_far",
    "verification_accuracy",
]
