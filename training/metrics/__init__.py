"""Metrics on embeddings, as pure numpy functions (no torch, no I/O), on L2 embeddings and labels.

The package gathers the figures (from `fewshot`, `verification`, `identification`, on `distances`);
`threshold` picks the distance threshold for a target false-accept rate, `macro` averages per class,
`galleries` simulates open-set galleries, `baseline` gives raw-pixel embeddings. Distances are L2; a pair is
accepted as "same" when its distance is <= the threshold. Used by `training.selection` (the validation figure
that picks the best epoch) and `training.heldout` (the test split's figures for the card).
"""

from training.metrics.distances import pairwise_l2
from training.metrics.fewshot import nway_kshot_accuracy
from training.metrics.identification import kshot_top1, kshot_top1_by_class, open_set_identification
from training.metrics.verification import (
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
