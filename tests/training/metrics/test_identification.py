"""Closed-set and open-set identification on tiny literal sets."""

import numpy as np
import pytest

from training.metrics.identification import kshot_top1, kshot_top1_by_class, open_set_identification


def test_kshot_top1_skips_classes_with_too_few_images():
    # A = {(1,0), (0.8,0.6)}, B = {(0,1), (0,1)}; either A image as reference finds the other (0.632) before
    # B (>= 0.894). C's single image (0.9, 0.436) is 0.447 from (1,0): enrolled, it would steal A's probe.
    emb = np.array([[1, 0], [0.8, 0.6], [0, 1], [0, 1], [0.9, np.sqrt(1 - 0.81)]])
    assert kshot_top1(emb, ["A", "A", "B", "B", "C"], k=1, seed=0, n_rounds=4) == 1.0


def test_kshot_top1_matches_hand_count():
    # A = {(1,0), (1,0)}: its probe hits its reference. B = {(0.6,0.8), (-0.6,-0.8)}: its probe is 2 from its
    # reference but nearer A's (1,0): 0.894 or 1.789. One of two probes right in every round.
    emb = np.array([[1, 0], [1, 0], [0.6, 0.8], [-0.6, -0.8]])
    assert kshot_top1(emb, [0, 0, 1, 1], k=1, seed=0, n_rounds=3) == pytest.approx(0.5)


def test_kshot_top1_by_class_weighs_classes_equally_where_micro_weighs_probes():
    # A = three images at (1,0): both probes hit. B = {(0.6,0.8), (-0.6,-0.8)}: its probe is 2 from its own
    # reference but 0.894 or 1.789 from A's: always wrong. Macro (1 + 0) / 2 = 0.5; micro 2 of 3 probes.
    emb = np.array([[1, 0], [1, 0], [1, 0], [0.6, 0.8], [-0.6, -0.8]])
    labels = ["A", "A", "A", "B", "B"]
    assert kshot_top1_by_class(emb, labels, k=1, seed=0, n_rounds=3) == {"A": 1.0, "B": 0.0}
    assert kshot_top1(emb, labels, k=1, seed=0, n_rounds=3) == pytest.approx(2 / 3)


def test_kshot_top1_by_class_with_equal_probes_per_class_averages_to_kshot_top1(clustered):
    # 4 classes of 6, k = 2: 4 probes per class in every round, so the macro mean equals the micro figure.
    emb, labels = clustered(4, 6)
    emb = emb + np.random.default_rng(1).standard_normal(emb.shape)  # noisy: some probes miss
    by_class = kshot_top1_by_class(emb, labels, k=2, seed=3, n_rounds=4)
    micro = kshot_top1(emb, labels, k=2, seed=3, n_rounds=4)
    assert sorted(by_class) == [0, 1, 2, 3] and micro == pytest.approx(np.mean(list(by_class.values())))


def test_kshot_top1_one_usable_class_raises_value_error():
    with pytest.raises(ValueError, match="2 classes"):
        kshot_top1(np.eye(3), [0, 0, 1], k=1, seed=0)


# ---- open-set identification ---------------------------------------------------------------------------

# Known, k = 1: A = {(1,0), (1,0)}, B = {(0,1), (0,1)}, C = {(0.28,0.96), (0.96,-0.28)}.
# C's probe is 0.283 from B's (0,1) or from A's (1,0), and sqrt(2) from its own reference: accepted wrongly
# at any threshold >= 0.283. Unknown U = {(-1,0), (0.8,0.6)}: nearest references sqrt(2) and 0.632.
OPEN_EMB = np.array([[1, 0], [1, 0], [0, 1], [0, 1], [0.28, 0.96], [0.96, -0.28], [-1, 0], [0.8, 0.6]])
OPEN_LABELS = ["A", "A", "B", "B", "C", "C", "U", "U"]


@pytest.mark.parametrize(
    ("threshold", "correct", "accept", "reject"),
    [(0.1, 2 / 3, 2 / 3, 1.0), (0.5, 2 / 3, 1.0, 1.0), (0.7, 2 / 3, 1.0, 0.5), (1.5, 2 / 3, 1.0, 0.0)],
)
def test_open_set_identification_matches_hand_counts(threshold, correct, accept, reject):
    result = open_set_identification(
        OPEN_EMB, OPEN_LABELS, k=1, threshold=threshold, seed=0, unknown_labels=["U"]
    )
    assert result["known_correct_accept"] == pytest.approx(correct)
    assert result["known_accept"] == pytest.approx(accept)
    assert result["unknown_reject"] == pytest.approx(reject)
    assert (result["n_known_classes"], result["n_unknown_classes"]) == (3, 1)
    assert (result["n_known_probes"], result["n_unknown_probes"]) == (3, 2)


def test_open_set_identification_random_split_uses_fraction_of_eligible_classes(clustered):
    # 4 separated classes of 3 images (+ a singleton, not eligible with k = 1): 2 known, 2 unknown.
    emb, labels = clustered(5, 3)
    emb, labels = emb[:13], labels[:13]  # class 4 keeps one image
    result = open_set_identification(emb, labels, k=1, threshold=0.5, unknown_fraction=0.5, seed=0)
    assert (result["n_known_classes"], result["n_unknown_classes"]) == (2, 2)
    assert (result["n_known_probes"], result["n_unknown_probes"]) == (4, 6)
    assert result["known_correct_accept"] == 1.0 and result["unknown_reject"] == 1.0


def test_open_set_identification_without_known_class_raises_value_error():
    with pytest.raises(ValueError, match="known class"):
        open_set_identification(
            OPEN_EMB, OPEN_LABELS, k=1, threshold=0.5, seed=0, unknown_labels=["A", "B", "C", "U"]
        )
