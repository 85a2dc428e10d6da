"""identify's thresholds by gallery size: the table's k, interpolation in log G, the fitted extrapolation."""

import math

import pytest

from modelcard.identification import (
    Identification,
    IdentificationError,
    IdentificationRow,
    gallery_threshold,
    table_k,
    threshold_for,
)

ROWS = (
    IdentificationRow(identities=10, k=5, threshold=0.40),
    IdentificationRow(identities=100, k=5, threshold=0.30),
    IdentificationRow(identities=10, k=1, threshold=0.45),
)
TABLE = Identification(target_fpir=0.01, rows=ROWS)


def test_threshold_for_a_measured_size_is_its_row():
    assert (
        threshold_for(ROWS, identities=10, k=5) == 0.40 and threshold_for(ROWS, identities=100, k=5) == 0.30
    )


def test_threshold_between_sizes_is_linear_in_log_g():
    # sqrt(10 * 100) lies half way between 10 and 100 in log G
    assert threshold_for(ROWS, identities=round(math.sqrt(1000)), k=5) == pytest.approx(0.35, abs=1e-3)


def test_threshold_below_the_smallest_size_is_the_smallest_sizes():
    assert threshold_for(ROWS, identities=2, k=5) == 0.40 and threshold_for(ROWS, identities=0, k=5) == 0.40


def test_threshold_beyond_the_largest_size_follows_the_line_in_log_g():
    # the line through (log 10, 0.40) and (log 100, 0.30) gives 0.20 at G = 1000
    assert threshold_for(ROWS, identities=1000, k=5) == pytest.approx(0.20)


def test_threshold_beyond_three_sizes_goes_on_from_the_largest_along_the_fitted_slope():
    rows = (
        IdentificationRow(identities=10, k=5, threshold=0.40),
        IdentificationRow(identities=100, k=5, threshold=0.32),
        IdentificationRow(identities=1000, k=5, threshold=0.20),
    )
    # least-squares slope -0.10 per factor of 10 in G, from (1000, 0.20): no step just past the largest size
    assert threshold_for(rows, identities=10_000, k=5) == pytest.approx(0.10)
    assert threshold_for(rows, identities=1001, k=5) == pytest.approx(0.20, abs=1e-4)
    # a table that loosens with G never loosens beyond its largest size
    rising = (
        IdentificationRow(identities=10, k=5, threshold=0.3),
        IdentificationRow(identities=100, k=5, threshold=0.4),
    )
    assert threshold_for(rising, identities=1000, k=5) == 0.4


def test_threshold_with_one_size_stays_at_it_beyond():
    assert threshold_for(ROWS, identities=500, k=1) == 0.45


@pytest.mark.parametrize(("per_identity", "k"), [(1.0, 1), (3.0, 5), (5.0, 5), (9.0, 5)])
def test_table_k_errs_towards_more_references(per_identity, k):
    assert table_k(ROWS, per_identity) == k


def test_gallery_threshold_reads_k_from_references_per_identity():
    assert gallery_threshold(TABLE, identities=10, references=10) == 0.45
    assert gallery_threshold(TABLE, identities=10, references=50) == 0.40
    assert gallery_threshold(TABLE, identities=0, references=0) == 0.45


def test_identification_refuses_an_empty_table():
    with pytest.raises(IdentificationError):
        Identification(target_fpir=0.01, rows=())


def test_identification_round_trips_from_dict():
    data = {"target_fpir": 0.01, "rows": [{"identities": 10, "k": 5, "threshold": 0.4, "fnir": 0.1}]}
    assert Identification.from_dict(data).rows == (IdentificationRow(10, 5, 0.4, 0.1),)
    with pytest.raises(IdentificationError, match="malformed"):
        Identification.from_dict({"rows": []})


def test_rows_at_picks_the_largest_rate_at_or_under_the_one_asked():
    table = Identification(
        target_fpir=0.01,
        rows=(
            IdentificationRow(identities=10, k=5, threshold=0.30, fpir=0.01),
            IdentificationRow(identities=10, k=5, threshold=0.38, fpir=0.05),
        ),
    )
    assert gallery_threshold(table, identities=10, references=50) == 0.30
    assert gallery_threshold(table, identities=10, references=50, fpir=0.05) == 0.38
    assert gallery_threshold(table, identities=10, references=50, fpir=0.2) == 0.38
    assert gallery_threshold(table, identities=10, references=50, fpir=0.001) == 0.30  # the strictest held


def test_identification_refuses_a_target_without_rows():
    with pytest.raises(IdentificationError, match="target FPIR"):
        Identification(target_fpir=0.05, rows=(IdentificationRow(10, 5, 0.3, fpir=0.01),))


def test_gallery_threshold_is_never_stricter_than_a_lower_rates_nor_under_zero():
    # the 1 % rows fall steeply (3: 0.78, 5: 0.41), the 0.1 % rows hardly (0.37, 0.35): beyond 5 the 1 % line
    # crosses under the 0.1 % one, and under 0 past about 9 identities
    rows = (
        IdentificationRow(identities=3, k=5, threshold=0.78, fpir=0.01),
        IdentificationRow(identities=5, k=5, threshold=0.41, fpir=0.01),
        IdentificationRow(identities=3, k=5, threshold=0.37, fpir=0.001),
        IdentificationRow(identities=5, k=5, threshold=0.35, fpir=0.001),
    )
    table = Identification(target_fpir=0.01, rows=rows)
    strict = [gallery_threshold(table, identities=g, references=5 * g, fpir=0.001) for g in (3, 8, 11, 50)]
    loose = [gallery_threshold(table, identities=g, references=5 * g) for g in (3, 8, 11, 50)]
    assert loose[0] == 0.78 and all(a >= b for a, b in zip(loose, strict, strict=True))
    assert loose[2] == strict[2]  # the 1 % line alone gives a negative threshold at 11
    steep = Identification(target_fpir=0.01, rows=rows[:2])
    assert gallery_threshold(steep, identities=50, references=250) == 0.0
