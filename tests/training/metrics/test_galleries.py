"""Simulated open-set galleries: FPIR thresholds and FNIR on embeddings whose answers are worked out by hand."""

import numpy as np
import pytest

from training.metrics.galleries import (
    GalleryTrials,
    figures_at,
    fnir_at,
    fpir_at,
    identification_thresholds,
    simulate_galleries,
    threshold_at_fpir,
)


def clustered(n_classes: int, per_class: int, spread: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Unit-ish embeddings: each class a random direction plus noise of `spread`."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_classes, 16))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    emb = np.repeat(centres, per_class, axis=0) + spread * rng.standard_normal((n_classes * per_class, 16))
    return emb, np.repeat(np.arange(n_classes), per_class)


def test_threshold_at_fpir_accepts_at_most_that_share_of_non_mated():
    d = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    t = threshold_at_fpir(d, fpir=0.2)  # two of ten may be accepted: just under the third smallest
    assert 0.2 <= t < 0.3 and fpir_at(d, threshold=t) == 0.2
    assert threshold_at_fpir(d, fpir=0.0) < 0.1


def test_threshold_at_fpir_refuses_an_empty_set_or_a_rate_of_one():
    with pytest.raises(ValueError):
        threshold_at_fpir([], fpir=0.1)
    with pytest.raises(ValueError):
        threshold_at_fpir([0.5], fpir=1.0)


def test_fnir_counts_far_and_wrong_answers():
    trials = GalleryTrials(
        mated=np.array([0.1, 0.2, 0.9, 0.1]),
        mated_correct=np.array([True, True, True, False]),
        non_mated=np.array([1.0]),
    )
    assert fnir_at(trials, threshold=0.5) == 0.5  # one too far, one nearest to someone else


def test_simulate_galleries_pools_mated_and_non_mated_probes():
    emb, labels = clustered(10, 4, spread=0.01)
    trials = simulate_galleries(emb, labels, identities=3, k=1, rounds=2, seed=0)
    # per round: 3 enrolled x 3 probes mated, 7 strangers x 4 images non-mated
    assert trials.mated.shape == (18,) and trials.non_mated.shape == (56,)
    assert trials.mated_correct.all() and trials.mated.max() < trials.non_mated.min()


def test_simulate_galleries_weighs_each_class_of_strangers_the_same():
    # classes 0..3 of 2 images, class 4 of 20 that lies on class 0: its images are the false positives
    emb, labels = clustered(5, 2, spread=0.01)
    big = emb[labels == 0].mean(axis=0) + 0.01 * np.random.default_rng(1).standard_normal((20, emb.shape[1]))
    emb, labels = np.concatenate([emb, big]), np.concatenate([labels, np.full(20, 4)])
    trials = simulate_galleries(emb, labels, identities=1, k=1, rounds=40, seed=0)
    assert trials.non_mated_weights.sum() == pytest.approx(1.0)
    micro = fpir_at(trials.non_mated, threshold=0.1)
    balanced = fpir_at(trials.non_mated, threshold=0.1, weights=trials.non_mated_weights)
    # with class 0 enrolled, class 4's 20 images are strangers accepted: most of the images, one of 4 classes
    assert balanced < 0.6 * micro
    t = threshold_at_fpir(trials.non_mated, fpir=0.05, weights=trials.non_mated_weights)
    assert fpir_at(trials.non_mated, threshold=t, weights=trials.non_mated_weights) <= 0.05


def test_simulate_galleries_needs_a_stranger():
    emb, labels = clustered(3, 4, spread=0.01)
    with pytest.raises(ValueError, match="at least 4 classes"):
        simulate_galleries(emb, labels, identities=3, k=1, rounds=1, seed=0)


def test_identification_thresholds_grow_stricter_with_gallery_size():
    emb, labels = clustered(80, 6, spread=0.35)
    rows = identification_thresholds(
        emb, labels, sizes=(5, 40, 100), ks=(1, 5), fpirs=(0.01, 0.05), rounds=10, seed=0
    )
    by = {(r["identities"], r["k"], r["fpir"]): r["threshold"] for r in rows}
    # 100 needs 200 classes for its strangers: the largest that fits, 40, is already there
    assert {(g, k) for g, k, _ in by} == {(5, 1), (40, 1), (5, 5), (40, 5)} and len(by) == 8
    assert by[(40, 1, 0.05)] < by[(5, 1, 0.05)] and by[(40, 5, 0.05)] < by[(5, 5, 0.05)]
    assert by[(40, 5, 0.01)] <= by[(40, 5, 0.05)]  # a lower rate is a stricter threshold
    test = figures_at(*clustered(80, 6, spread=0.35, seed=1), table=rows, rounds=10, seed=1)
    assert len(test) == 8 and all(abs(r["fpir"] - r["target_fpir"]) < 0.05 for r in test)


@pytest.mark.parametrize(
    ("sizes", "n_classes", "fit"),
    [
        ((10, 30, 100, 300), 115, (10, 30, 57)),  # 100 and 300 do not fit: 57, the largest that does
        ((3, 6, 10), 26, (3, 6, 10)),  # all fit: nothing added
        ((3, 6, 10), 20, (3, 6, 10)),  # 10 fits exactly, beside 10 strangers
        ((3, 6, 10), 11, (3, 5)),
        ((10, 30, 100), 63, (10, 30)),  # 31 is too near 30 to add anything
        ((10, 30, 100), 76, (10, 30, 38)),
        ((10,), 3, (1,)),
        ((10,), 1, ()),  # one class: no gallery has a stranger
    ],
)
def test_gallery_sizes_that_do_not_fit_give_way_to_the_largest_that_does(sizes, n_classes, fit):
    from training.metrics.galleries import sizes_that_fit

    assert sizes_that_fit(sizes, n_classes=n_classes) == fit


def test_identification_thresholds_measure_the_largest_gallery_the_classes_allow():
    emb, labels = clustered(30, 6, spread=0.35)
    rows = identification_thresholds(emb, labels, sizes=(5, 40), ks=(1,), fpirs=(0.05,), rounds=5, seed=0)
    assert sorted(r["identities"] for r in rows) == [5, 15]


def test_identity_scores_by_statistic_at_known_angles():
    from training.metrics.galleries import identity_scores

    refs = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    ids = np.array([0, 0, 1])
    probe = np.array([[1.0, 0.0]])
    assert identity_scores(probe, refs, ids, statistic="nearest")[0] == pytest.approx([0.0, 2.0])
    assert identity_scores(probe, refs, ids, statistic="mean")[0] == pytest.approx([np.sqrt(2) / 2, 2.0])
    centroid = np.sqrt((1 - np.sqrt(0.5)) ** 2 + 0.5)  # to (1, 1) / sqrt(2)
    assert identity_scores(probe, refs, ids, statistic="centroid")[0] == pytest.approx([centroid, 2.0])
    with pytest.raises(ValueError, match="statistic"):
        identity_scores(probe, refs, ids, statistic="median")


def test_balanced_fpir_picks_the_rate_with_the_best_mean_of_both_rates():
    from training.metrics.galleries import balanced_fpir

    rows = [
        {"identities": 10, "k": 5, "fpir": 0.01, "fnir": 0.20},  # (0.80 + 0.99) / 2 = 0.895
        {"identities": 10, "k": 5, "fpir": 0.05, "fnir": 0.05},  # (0.95 + 0.95) / 2 = 0.95
        {"identities": 10, "k": 5, "fpir": 0.10, "fnir": 0.02},  # (0.98 + 0.90) / 2 = 0.94
        {"identities": 10, "k": 1, "fpir": 0.10, "fnir": 0.00},
    ]
    assert balanced_fpir(rows, k=5) == 0.05


@pytest.mark.parametrize("statistic", ["nearest", "centroid", "median"])
def test_every_consumer_of_the_card_statistic_accepts_exactly_its_one_definition(statistic):
    from gallery.calibration import calibrate
    from modelcard.identification import STATISTICS, Identification, IdentificationError, IdentificationRow
    from training.config import EvalConfig
    from training.heldout import STATISTIC_TEXT
    from training.metrics.galleries import identity_scores

    emb, labels = clustered(8, 4, spread=0.2)
    uses = {
        "card": lambda: Identification(0.01, (IdentificationRow(10, 5, 0.4),), statistic=statistic),
        "config": lambda: EvalConfig(identify_statistic=statistic),
        "calibration": lambda: calibrate(emb, labels, target_fpir=0.2, statistic=statistic),
        "training": lambda: identity_scores(emb[:2], emb, labels, statistic=statistic),
        "evaluation text": lambda: STATISTIC_TEXT[statistic],
    }
    for use in uses.values():
        if statistic in STATISTICS:
            use()
        else:
            with pytest.raises((ValueError, IdentificationError, KeyError)):  # noqa: PT012
                use()
