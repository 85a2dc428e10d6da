"""The pretrained-frozen baseline's pure helpers, on literal embeddings with hand-counted answers."""

import numpy as np
import pytest

from training.frozen import figures, reference_kshot_by_class, set_figures


def test_reference_kshot_by_class_matches_hand_count():
    # References: A at (1,0) twice, B at (0,1). Probes: A (0.9,0.1) -> A; B (0.6,0.4) is nearer A -> wrong;
    # B (0,1) -> B; C (-1,0) has no reference class and is left out. A 1/1, B 1/2 in every round.
    ref = np.array([[1, 0], [1, 0], [0, 1]], dtype=float)
    probes = np.array([[0.9, 0.1], [0.6, 0.4], [0, 1], [-1, 0]], dtype=float)
    by_class = reference_kshot_by_class(
        ref, np.array(["A", "A", "B"]), probes, np.array(["A", "B", "B", "C"]), k=1, seed=0, n_rounds=3
    )
    assert by_class == {"A": 1.0, "B": 0.5}


def test_figures_macro_is_class_mean_beside_given_micro():
    assert figures({"A": 1.0, "B": 0.5}, 2 / 3) == {
        "macro": 0.75,
        "micro": pytest.approx(2 / 3),
        "classes": 2,
    }


def test_set_figures_scores_validation_and_test_probes_each_against_training_references():
    # Training: A at (1,0), B at (0,1). Validation: an A probe near A (right), a B probe near A (wrong).
    # Test: one B probe at B (right). An unsplit image (no source) enrolls nowhere.
    emb = np.array([[1, 0], [0, 1], [0.9, 0.1], [0.8, 0.2], [0, 1], [0.5, 0.5]], dtype=float)
    labels = np.array(["A", "B", "A", "B", "B", "A"])
    sources = ["a1", "b1", "a2", "b2", "b3", "a3"]
    split_of = {"a1": "train", "b1": "train", "a2": "val", "b2": "val", "b3": "test"}
    out = set_figures(emb, labels, split_of, sources, k=1, seed=0)
    assert out["val_vs_train_refs"] == {"macro": 0.5, "micro": 0.5, "classes": 2}
    assert out["test_vs_train_refs"] == {"macro": 1.0, "micro": 1.0, "classes": 1}
