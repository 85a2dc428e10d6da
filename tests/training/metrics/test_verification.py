"""Verification pair sampling and ROC figures against the hand-worked six-pair example."""

import numpy as np
import pytest

from training.metrics.verification import (
    equal_error_rate,
    roc_auc,
    roc_curve,
    sample_verification_pairs,
    tar_at_far,
    verification_accuracy,
)


def test_roc_curve_matches_hand_points(six_pairs):
    far, tar, thresholds = roc_curve(*six_pairs)
    np.testing.assert_allclose(far, [0, 0, 0, 1 / 3, 1 / 3, 2 / 3, 1])
    np.testing.assert_allclose(tar, [0, 1 / 3, 2 / 3, 2 / 3, 1, 1, 1])
    np.testing.assert_allclose(thresholds[1:], [0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    assert thresholds[0] < 0.1


def test_roc_auc_matches_hand_area(six_pairs):
    # trapezoids: 0 + 0 + (1/3)(2/3) + 0 + (1/3)(1) + (1/3)(1) = 8/9
    # (= genuine/impostor pairs ordered right: 0.1 and 0.2 beat all 3 impostors, 0.4 beats 2 -> 8 of 9)
    assert roc_auc(*six_pairs) == pytest.approx(8 / 9)


def test_roc_auc_tied_genuine_and_impostor_counts_half():
    assert roc_auc([0.5, 0.5], [True, False]) == pytest.approx(0.5)


def test_equal_error_rate_matches_hand_crossing(six_pairs):
    # FRR = 1 - TAR: at 0.3, FAR = 1/3 and FRR = 1/3
    eer, threshold = equal_error_rate(*six_pairs)
    assert eer == pytest.approx(1 / 3) and threshold == pytest.approx(0.3)


@pytest.mark.parametrize(
    ("far", "expected_tar", "expected_threshold"),
    [(0.0, 2 / 3, 0.2), (0.01, 2 / 3, 0.2), (1 / 3, 1.0, 0.4), (0.5, 1.0, 0.4), (1.0, 1.0, 0.6)],
)
def test_tar_at_far_takes_largest_threshold_within_far(six_pairs, far, expected_tar, expected_threshold):
    tar, threshold = tar_at_far(*six_pairs, far=far)
    assert tar == pytest.approx(expected_tar) and threshold == pytest.approx(expected_threshold)


def test_tar_at_far_impostor_nearest_gives_zero_tar_below_every_distance():
    tar, threshold = tar_at_far([0.1, 0.2], [False, True], far=0.0)
    assert tar == 0.0 and threshold < 0.1


def test_verification_accuracy_matches_hand_count(six_pairs):
    # at 0.25: accept 0.1 G, 0.2 G (right); reject 0.3 I, 0.5 I, 0.6 I (right), 0.4 G (wrong) -> 5/6
    assert verification_accuracy(*six_pairs, threshold=0.25) == pytest.approx(5 / 6)


def test_verification_metrics_without_impostors_raise_value_error():
    with pytest.raises(ValueError, match="impostor"):
        roc_auc([0.1, 0.2], [True, True])


def test_sample_verification_pairs_balanced_and_labelled_right():
    labels = np.array(["a"] * 5 + ["b"] * 2 + ["c"] + ["d"] * 3)
    i, j, same = sample_verification_pairs(labels, n_pairs=1001, seed=3)
    assert len(i) == len(j) == len(same) == 1001 and same.sum() == 500
    assert np.array_equal(labels[i] == labels[j], same)
    assert (i != j).all() and "c" not in set(labels[i[same]])
    assert 0.3 < same[:500].mean() < 0.7  # interleaved, not 500 same then 501 different


def test_sample_verification_pairs_same_seed_same_pairs():
    labels = np.repeat(np.arange(6), 3)
    first = sample_verification_pairs(labels, n_pairs=40, seed=1)
    second = sample_verification_pairs(labels, n_pairs=40, seed=1)
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))


def test_sample_verification_pairs_single_class_raises_value_error():
    with pytest.raises(ValueError, match="2 classes"):
        sample_verification_pairs([0, 0, 0], n_pairs=10, seed=0)
