"""Calibration's leave-one-identity-out math on unit vectors at known angles (2-D, on the unit circle), where
the distance between angles a and b is the chord 2 sin(|a - b| / 2), worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gallery.calibration import (
    calibrate,
    identities_of_rows,
    min_probes,
    probe_distances,
    threshold_at_fpir,
)
from gallery.errors import GalleryTooSmall


def circle(*degrees: float) -> np.ndarray:
    """Unit vectors at these angles."""
    rad = np.radians(degrees)
    return np.stack([np.cos(rad), np.sin(rad)], axis=1).astype(np.float32)


def chord(gap_degrees: float) -> float:
    return 2.0 * math.sin(math.radians(gap_degrees) / 2.0)


# A: 0 and 20 degrees; B 90; C 155; D 200; E 310. Nearest other identity (angular gap): A0 -> E 50,
# A20 -> B 70, B -> C 65, C -> D 45, D -> C 45, E -> A0 50; A's references are 20 apart.
SPREAD = (circle(0, 20, 90, 155, 200, 310), ["a", "a", "b", "c", "d", "e"])
# A: 0 and 100; B 50 (between A's two); C 170; D 230; E 300. Nearest other: A0 -> B 50, B -> A 50,
# A100 -> B 50, C -> D 60, D -> C 60, E -> A0 60; A's own references lie 100 apart, farther than B.
SPLIT = (circle(0, 100, 50, 170, 230, 300), ["a", "a", "b", "c", "d", "e"])


def test_threshold_at_fpir_literals_sit_just_under_the_next_distance():
    distances = [0.9, 0.2, 0.5, 0.7]
    assert threshold_at_fpir(distances, fpir=0.25) == np.nextafter(0.5, 0.0)  # accepts 0.2 alone: 1/4
    assert threshold_at_fpir(distances, fpir=0.2) == np.nextafter(0.2, 0.0)  # accepts none
    assert threshold_at_fpir(distances, fpir=0.5) == np.nextafter(0.7, 0.0)


def test_threshold_at_fpir_weighted_counts_the_accepted_share_of_the_weight():
    distances = [0.9, 0.2, 0.5, 0.7]
    # 0.2 weighs half: accepting it alone is an FPIR of 0.5, so 0.25 accepts nothing
    assert threshold_at_fpir(distances, fpir=0.25, weights=[1, 3, 1, 1]) == np.nextafter(0.2, 0.0)
    assert threshold_at_fpir(distances, fpir=0.5, weights=[1, 3, 1, 1]) == np.nextafter(0.5, 0.0)
    # sorted 0.2, 0.5, 0.7, 0.9 weigh 1, 8, 1, 1 of 11: accepting 0.2 and 0.5 is 9/11, adding 0.7 10/11
    assert threshold_at_fpir(distances, fpir=0.85, weights=[1, 1, 8, 1]) == np.nextafter(0.7, 0.0)
    assert threshold_at_fpir(distances, fpir=0.8, weights=[1, 1, 8, 1]) == np.nextafter(0.5, 0.0)


def test_threshold_at_fpir_equal_weights_give_the_unweighted_threshold():
    d = np.random.default_rng(0).random(997)
    for fpir in (0.0, 0.001, 0.01, 0.05, 0.1, 0.5, 0.99):
        assert threshold_at_fpir(d, fpir=fpir, weights=np.full(997, 0.25)) == threshold_at_fpir(d, fpir=fpir)


@pytest.mark.parametrize("weights", [[1.0], [1.0, -1.0], [0.0, 0.0], [1.0, np.nan]])
def test_threshold_at_fpir_refuses_weights_that_are_not_one_per_distance_and_positive(weights):
    with pytest.raises(ValueError, match="weights"):
        threshold_at_fpir([0.3, 0.4], fpir=0.1, weights=weights)


def test_threshold_at_fpir_zero_distance_clamps_to_zero():
    assert threshold_at_fpir([0.0, 0.4], fpir=0.1) == 0.0


def test_threshold_at_fpir_without_distances_raises():
    with pytest.raises(ValueError, match="non-mated"):
        threshold_at_fpir([], fpir=0.1)


def test_probe_distances_match_hand_computed_chords_in_any_block_size():
    # A: 0 and 60; B 180; C 90. own: A0 -> A60 and back (60); B, C have no other reference.
    # other: A0 -> C 90; A60 -> C 30; B -> C 90; C -> A60 30.
    matrix, labels = circle(0, 60, 180, 90), np.array([0, 0, 1, 2])
    probes = np.arange(4)
    want_own = [chord(60), chord(60), math.inf, math.inf]
    want_other = [chord(90), chord(30), chord(90), chord(30)]
    for block in (1, 3, 1000):
        found = probe_distances(matrix, labels, probes, chunk=block * len(probes))
        np.testing.assert_allclose(found.own, want_own, atol=1e-6)
        np.testing.assert_allclose(found.other, want_other, atol=1e-6)


def test_probe_distances_of_a_subset_compare_with_every_reference():
    matrix, labels = circle(0, 60, 180, 90), np.array([0, 0, 1, 2])
    found = probe_distances(matrix, labels, np.array([1, 2]))
    np.testing.assert_allclose(found.own, [chord(60), math.inf], atol=1e-6)
    np.testing.assert_allclose(found.other, [chord(30), chord(90)], atol=1e-6)


def test_calibrate_spread_gallery_picks_the_third_smallest_stranger_distance():
    # non-mated: chords of 45 (C), 45 (D), 50 (A0), 50 (E), 65 (B), 70 (A20); each identity weighs 1/5, so
    # A's two probes 1/10 each. At FPIR 0.4 the two chord(45)s may be accepted (0.4), not A0 too (0.5): the
    # threshold sits just under chord(50).
    # mated: A0 and A20 are 20 apart (chord 0.347), nearer than anyone else and under the threshold.
    result = calibrate(*SPREAD, target_fpir=0.4)
    assert result.threshold == pytest.approx(chord(50), abs=1e-6) and result.threshold < chord(50)
    assert result.fpir == pytest.approx(0.4) and result.fnir == 0.0
    assert (result.identities, result.references) == (5, 6)
    assert (result.non_mated_probes, result.mated_probes, result.sampled) == (6, 2, False)


def test_calibrate_split_identity_nearest_to_someone_else_is_a_miss():
    # non-mated: chords of 50 (A0, B, A100: weights 0.1, 0.2, 0.1), then 60 (C, D, E: 0.2 each); at FPIR 0.5
    # the three 50s may be accepted (0.4), not a 60 too (0.6): just under chord(60) = 1.
    # mated: A0's own other reference is 100 away, B only 50: nearest is someone else, so both miss.
    result = calibrate(*SPLIT, target_fpir=0.5)
    assert result.threshold == pytest.approx(1.0, abs=1e-6) and result.threshold < 1.0
    assert result.fpir == pytest.approx(0.4) and result.fnir == 1.0 and result.mated_probes == 2


def test_calibrate_weighs_each_identity_the_same_however_many_references_it_has():
    # identity "big" holds 20 references 5 degrees from e's one; a to d lie 60 or more from anyone.
    angles = [0, 60, 120, 180] + [245 + 0.1 * i for i in range(20)] + [240]
    labels = list("abcd") + ["big"] * 20 + ["e"]
    result = calibrate(circle(*angles), labels, target_fpir=0.4)
    # big's 20 probes (5 to 7 degrees from e) are 20 of the 25 probes but one identity in 6: accepting them
    # and e's is an FPIR of 2/6, not the 21/25 it would be with every probe weighing the same
    assert chord(7) < result.threshold <= chord(60) and result.fpir == pytest.approx(2 / 6)


def test_calibrate_single_references_have_no_fnir():
    result = calibrate(circle(0, 70, 150, 220, 290), list("abcde"), target_fpir=0.2)
    assert result.fnir is None and result.mated_probes == 0
    assert result.threshold < chord(70) and result.fpir == 0.0  # every stranger is chord(70) or more away


def test_calibrate_four_identities_is_too_small():
    with pytest.raises(GalleryTooSmall, match="4 identities"):
        calibrate(circle(0, 10, 90, 180, 270), list("aabcd"), target_fpir=0.4)


def test_calibrate_too_few_probes_for_the_target_is_too_small():
    # FPIR 0.1 needs 10 probes; six references give six
    assert min_probes(0.1) == 10 and min_probes(0.05) == 20 and min_probes(0.3) == 4
    with pytest.raises(GalleryTooSmall, match="at least 10"):
        calibrate(*SPREAD, target_fpir=0.1)


def test_calibrate_empty_gallery_is_too_small():
    with pytest.raises(GalleryTooSmall, match="0 identities"):
        calibrate(np.empty((0, 2), np.float32), [], target_fpir=0.05)


def test_calibrate_big_gallery_samples_a_bounded_number_of_probes():
    angles = np.arange(0, 360, 3.0)  # 120 references, 3 degrees apart, 40 identities of 3 neighbours each
    names = [f"id{i // 3}" for i in range(len(angles))]
    result = calibrate(circle(*angles), names, target_fpir=0.1, max_probes=50)
    assert result.sampled and result.non_mated_probes == 50 and result.references == 120
    # an end of each run of three is 3 degrees from the next identity, its middle 6
    assert result.threshold < chord(3) + 1e-6


def test_calibrate_target_out_of_range_raises():
    with pytest.raises(ValueError, match="target_fpir"):
        calibrate(*SPREAD, target_fpir=1.0)


def test_identities_of_rows_joins_chunks_by_id():
    pairs = [(np.array([7, 3]), ["x", "y"]), (np.array([5]), ["z"])]
    assert list(identities_of_rows(np.array([3, 5, 7]), pairs)) == ["y", "z", "x"]
    with pytest.raises(ValueError, match="no identity"):
        identities_of_rows(np.array([4]), pairs)


def test_centroid_probe_distances_leave_the_probe_out_of_its_own_centroid():
    from gallery.calibration import centroid_probe_distances

    x = np.eye(4, dtype=np.float32)[[0, 1, 2, 2]]  # identity 0: e0, e1; identity 1: e2 twice
    labels = np.array([0, 0, 1, 1])
    found = centroid_probe_distances(x, labels, np.arange(4))
    # e0 against its identity's rest (e1) and identity 1's centroid (e2); e2 against its twin and e0+e1's mean
    assert found.own == pytest.approx([np.sqrt(2), np.sqrt(2), 0.0, 0.0], abs=1e-6)
    to_mean = np.linalg.norm(np.eye(4)[2] - np.array([1, 1, 0, 0]) / np.sqrt(2))
    assert found.other == pytest.approx([np.sqrt(2), np.sqrt(2), to_mean, to_mean], abs=1e-6)


def test_calibrate_refuses_an_unknown_statistic():
    x = np.eye(8, dtype=np.float32)
    with pytest.raises(ValueError, match="statistic"):
        calibrate(x, [str(i) for i in range(8)], target_fpir=0.5, statistic="median")
