"""The pretrained-frozen baseline's pure helpers, on literal embeddings with hand-counted answers."""

import numpy as np
import pytest

from training.frozen import figures, reference_kshot_by_class


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
