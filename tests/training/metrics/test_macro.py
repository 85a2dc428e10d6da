"""Macro and micro k-shot top-1 against a reference pool, novel classes enrolled from their own images."""

import numpy as np
import pytest

from training.metrics.macro import (
    confusion_counts,
    macro,
    macro_micro,
    macro_posterior_interval,
    pooled_kshot_by_class,
    pooled_kshot_hits,
    pooled_kshot_predictions,
)

# Pool: A at (1,0) twice, B at (0,1). Probes: A at (1,0) (nearest A); B at (0.1,1) (nearest B) and at
# (0.9,0.1) (nearer A: wrong); N, a class the pool lacks, three images near (-1,0).
REF = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
REF_LABELS = np.array(["A", "A", "B"])
PROBES = np.array([[1.0, 0.0], [0.1, 1.0], [0.9, 0.1], [-1.0, 0.0], [-1.0, 0.1], [-0.9, 0.0]])
PROBE_LABELS = np.array(["A", "B", "B", "N", "N", "N"])


def test_macro_weighs_every_class_the_same():
    assert macro({"A": 1.0, "B": 0.5, "N": 0.0}) == pytest.approx(0.5)
    assert np.isnan(macro({}))


def test_pooled_kshot_hits_enrolls_a_novel_class_from_its_own_probes():
    # Every round: A's probe right, B's (0.1,1) right and (0.9,0.1) wrong; N enrols one of its three images,
    # and its other two lie nearer that one (<= 0.14) than A (>= 1.9): right.
    hits = pooled_kshot_hits(REF, REF_LABELS, PROBES, PROBE_LABELS, k=1, seed=0, n_rounds=2)
    assert {c: h.tolist() for c, h in hits.items()} == {
        "A": [True, True],
        "B": [True, False, True, False],
        "N": [True, True, True, True],
    }


def test_macro_micro_of_hits_by_hand():
    hits = pooled_kshot_hits(REF, REF_LABELS, PROBES, PROBE_LABELS, k=1, seed=0, n_rounds=2)
    # macro (1 + 0.5 + 1) / 3; micro 8 of 10 probes
    assert macro_micro(hits) == {"macro": pytest.approx(5 / 6), "micro": pytest.approx(0.8), "classes": 3}


def test_macro_micro_with_rounds_adds_the_macro_interval():
    hits = pooled_kshot_hits(REF, REF_LABELS, PROBES, PROBE_LABELS, k=1, seed=0, n_rounds=2)
    figures = macro_micro(hits, rounds=2)
    low, high = figures["macro_ci95"]
    assert 0.0 <= low <= figures["macro"] <= high <= 1.0
    assert {k: figures[k] for k in ("macro", "micro", "classes")} == macro_micro(hits)


def test_pooled_kshot_by_class_skips_a_novel_class_with_no_probe_left():
    # N has one image: enrolled at k = 1 it leaves no probe, so it is not measured (and steals nothing).
    by_class = pooled_kshot_by_class(REF, REF_LABELS, PROBES[:4], PROBE_LABELS[:4], k=1, seed=0)
    assert by_class == {"A": 1.0, "B": 0.5}


def test_pooled_kshot_hits_rejects_k_zero():
    with pytest.raises(ValueError, match="k >= 1"):
        pooled_kshot_hits(REF, REF_LABELS, PROBES, PROBE_LABELS, k=0, seed=0)


def test_macro_micro_of_nothing_is_nan():
    figures = macro_micro({})
    assert np.isnan(figures["macro"]) and figures["classes"] == 0


def test_confusion_counts_rows_are_true_classes_and_include_answer_only_classes():
    classes, counts = confusion_counts({"a": np.array(["a", "b", "a"]), "b": np.array(["c"])})
    assert classes == ["a", "b", "c"]
    assert counts.tolist() == [[2, 1, 0], [0, 0, 1], [0, 0, 0]]


def test_pooled_kshot_predictions_agree_with_hits():
    predictions = pooled_kshot_predictions(REF, REF_LABELS, PROBES, PROBE_LABELS, k=1, seed=0, n_rounds=2)
    hits = pooled_kshot_hits(REF, REF_LABELS, PROBES, PROBE_LABELS, k=1, seed=0, n_rounds=2)
    assert predictions.keys() == hits.keys()
    for label, guesses in predictions.items():
        assert np.array_equal(guesses == label, hits[label])


def test_macro_posterior_interval_leaves_room_below_a_perfect_small_class():
    low, high = macro_posterior_interval({"a": (1.0, 3)})
    assert 0.3 < low < 0.6 and 0.99 < high <= 1.0  # Beta(3.5, 0.5): 3 of 3 right proves little
    wide = macro_posterior_interval({"a": (0.5, 10)})
    narrow = macro_posterior_interval({"a": (0.5, 1000)})
    assert narrow[1] - narrow[0] < (wide[1] - wide[0]) / 5
    assert narrow[0] < 0.5 < narrow[1]


def test_macro_posterior_interval_averages_the_classes():
    # two classes of many probes at 0.9 and 0.5: the macro 0.7 sits in a narrow interval
    low, high = macro_posterior_interval({"a": (0.9, 5000), "b": (0.5, 5000)})
    assert low < 0.7 < high and high - low < 0.02


def test_macro_posterior_interval_refuses_a_class_with_no_probe():
    with pytest.raises(ValueError, match="probe"):
        macro_posterior_interval({"a": (1.0, 0)})
