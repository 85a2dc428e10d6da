"""Paired macro differences with a per-class bootstrap interval."""

import numpy as np
import pytest

from training.metrics.paired import macro_difference, per_probe


def test_per_probe_averages_each_position_over_the_rounds():
    hits = {"a": np.array([True, False, True, True]), "b": np.array([False, False])}
    out = per_probe(hits, rounds=2)
    assert out["a"].tolist() == [1.0, 0.5] and out["b"].tolist() == [0.0]


def test_per_probe_refuses_hits_that_do_not_split_into_rounds():
    with pytest.raises(ValueError, match="rounds"):
        per_probe({"a": np.ones(3, dtype=bool)}, rounds=2)


def test_macro_difference_weighs_every_class_the_same():
    # class a: +1 on one of two probes (+0.5); class b: -1 on each of four probes (-1): macro (0.5 - 1) / 2
    a = {"a": np.array([1.0, 0.0]), "b": np.zeros(4)}
    b = {"a": np.array([0.0, 0.0]), "b": np.ones(4)}
    out = macro_difference(a, b, n_boot=500, seed=0)
    assert out["difference"] == pytest.approx(-0.25)
    assert out["low"] <= -0.25 <= out["high"] and out["low"] >= -0.5 and out["high"] <= 0.0


def test_macro_difference_of_identical_scores_is_exactly_zero():
    a = {"a": np.array([1.0, 0.0, 0.5])}
    assert macro_difference(a, a, n_boot=100) == {"difference": 0.0, "low": 0.0, "high": 0.0}


def test_macro_difference_interval_narrows_with_more_probes():
    rng = np.random.default_rng(0)
    widths = []
    for n in (20, 2000):
        a, b = {"a": rng.random(n)}, {"a": rng.random(n)}
        out = macro_difference(a, b, n_boot=500, seed=1)
        widths.append(out["high"] - out["low"])
    assert widths[1] < widths[0] / 5


def test_macro_difference_refuses_different_classes():
    with pytest.raises(ValueError, match="classes"):
        macro_difference({"a": np.ones(1)}, {"b": np.ones(1)})
