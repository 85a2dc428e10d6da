"""Histogram totals read from a literal Prometheus exposition text."""

import pytest

from bench.scrape import histogram_totals, metric_names, scraped_mean

EXPOSITION = """\
# HELP sg_batch_size Images per model call
# TYPE sg_batch_size histogram
sg_batch_size_bucket{model="faces",le="1.0"} 2.0
sg_batch_size_bucket{model="faces",le="+Inf"} 5.0
sg_batch_size_sum{model="faces"} 40.0
sg_batch_size_count{model="faces"} 5.0
sg_batch_size_bucket{model="toy",le="1.0"} 1.0
sg_batch_size_bucket{model="toy",le="+Inf"} 1.0
sg_batch_size_sum{model="toy"} 1.0
sg_batch_size_count{model="toy"} 1.0
# HELP sg_queue_depth Images waiting for the model
# TYPE sg_queue_depth gauge
sg_queue_depth{model="faces"} 0.0
"""


def test_histogram_totals_with_labels_reads_one_series():
    assert histogram_totals(EXPOSITION, name="sg_batch_size", labels={"model": "faces"}) == (40.0, 5.0)


def test_histogram_totals_without_labels_adds_every_series():
    assert histogram_totals(EXPOSITION, name="sg_batch_size") == (41.0, 6.0)


def test_histogram_totals_unknown_metric_is_zero():
    assert histogram_totals(EXPOSITION, name="sg_missing") == (0.0, 0.0)


def test_scraped_mean_between_two_texts_is_the_delta_mean():
    later = EXPOSITION.replace('sum{model="faces"} 40.0', 'sum{model="faces"} 100.0').replace(
        'count{model="faces"} 5.0', 'count{model="faces"} 9.0'
    )
    assert scraped_mean(EXPOSITION, later, name="sg_batch_size", labels={"model": "faces"}) == pytest.approx(
        15.0
    )


def test_metric_names_lists_families():
    assert metric_names(EXPOSITION) == {"sg_batch_size", "sg_queue_depth"}
