"""Threshold tuning for a target false-accept rate, on literal impostor lists."""

import numpy as np
import pytest

from modelcard import Threshold
from training.metrics.threshold import threshold_for_far, tune_threshold

IMPOSTORS = np.array([0.9, 0.3, 0.7, 0.5, 1.1, 0.6, 0.8, 1.0, 0.4, 1.2])  # sorted: 0.3, 0.4, 0.5, ... 1.2


def test_threshold_for_far_lands_between_last_accepted_and_first_rejected_impostor():
    # 20% of 10 = 2 impostors may be accepted (0.3, 0.4); 0.5 must be rejected -> halfway: 0.45
    assert threshold_for_far(IMPOSTORS, target_far=0.2) == pytest.approx(0.45)


def test_threshold_for_far_rounds_allowed_impostors_down():
    # 25% of 10 = 2.5 -> 2 impostors may be accepted: same threshold as 20%
    assert threshold_for_far(IMPOSTORS, target_far=0.25) == pytest.approx(0.45)


def test_threshold_for_far_float_product_below_integer_still_counts_it():
    # 0.29 * 100 = 28.999999999999996 in floating point; 29 impostors (0.00 .. 0.28) may be accepted
    impostors = np.arange(100) / 100
    assert threshold_for_far(impostors, target_far=0.29) == pytest.approx(0.285)


def test_threshold_for_far_zero_target_rejects_every_impostor():
    t = threshold_for_far(IMPOSTORS, target_far=0.0)
    assert t < 0.3 and t == pytest.approx(0.3)


def test_threshold_for_far_tied_impostors_are_all_rejected_together():
    # 50% of 4 = 2 may be accepted, but 0.2 appears three times: accepting any accepts all three (75%)
    t = threshold_for_far(np.array([0.2, 0.2, 0.2, 0.5]), target_far=0.5)
    assert t < 0.2 and np.mean(np.array([0.2, 0.2, 0.2, 0.5]) <= t) == 0.0


def test_threshold_for_far_bad_target_raises_value_error():
    with pytest.raises(ValueError, match="target_far"):
        threshold_for_far(IMPOSTORS, target_far=1.0)


def test_tune_threshold_reports_far_threshold_and_eer(six_pairs):
    # impostors 0.3, 0.5, 0.6; target 1/3 -> one may be accepted (0.3), 0.5 rejected -> value 0.4.
    # At 0.4: FAR 1/3, TAR 3/3. EER: at t = 0.3, FAR 1/3 = FRR 1/3.
    result = tune_threshold(*six_pairs, target_far=1 / 3)
    assert result["value"] == pytest.approx(0.4)
    assert result["achieved_far"] == pytest.approx(1 / 3) and result["tar"] == 1.0
    assert result["eer"] == pytest.approx(1 / 3) and result["eer_threshold"] == pytest.approx(0.3)
    assert result["method"] == "far" and result["target_far"] == pytest.approx(1 / 3)


def test_tune_threshold_keys_build_a_model_card_threshold(six_pairs):
    result = tune_threshold(*six_pairs)
    card = Threshold(**{k: result[k] for k in ("value", "target_far", "method", "eer_threshold")})
    assert card.value == result["value"] and card.target_far == 0.01
