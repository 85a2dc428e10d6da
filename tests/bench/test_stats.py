"""Latency, throughput, histogram and recall statistics on literal inputs with hand-worked answers."""

import math

import numpy as np
import pytest

from bench.stats import Sample, histogram_mean, percentiles_ms, rate, recall_at_1, status_counts, summarize


def test_percentiles_ms_five_latencies_interpolate_linearly():
    stats = percentiles_ms([0.010, 0.020, 0.030, 0.040, 0.050])
    # p95 sits at rank 0.95 * 4 = 3.8: 40 + 0.8 * 10 ms; p99 at rank 3.96: 40 + 0.96 * 10 ms
    assert stats == {"p50": 30.0, "p95": 48.0, "p99": 49.6, "mean": 30.0, "max": 50.0}


def test_percentiles_ms_single_latency_is_every_percentile():
    assert percentiles_ms([0.0125]) == {"p50": 12.5, "p95": 12.5, "p99": 12.5, "mean": 12.5, "max": 12.5}


def test_percentiles_ms_no_samples_returns_nan():
    assert all(math.isnan(v) for v in percentiles_ms([]).values())


def test_rate_counts_per_second():
    assert rate(30, elapsed_s=1.5) == 20.0


def test_rate_zero_interval_raises_value_error():
    with pytest.raises(ValueError, match="positive"):
        rate(3, elapsed_s=0.0)


def test_histogram_mean_uses_the_deltas_between_scrapes():
    # before: 4 batches summing to 10 images; after: 10 batches summing to 40 -> 30 images in 6 batches
    assert histogram_mean(before=(10.0, 4.0), after=(40.0, 10.0)) == 5.0


def test_histogram_mean_nothing_observed_returns_none():
    assert histogram_mean(before=(7.0, 3.0), after=(7.0, 3.0)) is None


def test_histogram_mean_count_going_down_raises_value_error():
    with pytest.raises(ValueError, match="restart"):
        histogram_mean(before=(7.0, 3.0), after=(1.0, 1.0))


def test_status_counts_keys_statuses_as_text_in_order():
    samples = [Sample(0.1, 429), Sample(0.1, 200), Sample(0.1, 0), Sample(0.1, 200)]
    assert status_counts(samples) == {"0": 1, "200": 2, "429": 1}


def test_summarize_counts_errors_apart_from_successful_latencies():
    samples = [Sample(0.010, 200), Sample(0.020, 201), Sample(0.500, 429), Sample(0.100, 0)]
    summary = summarize(samples, elapsed_s=2.0, images_per_request=3)
    assert summary["requests"] == 4 and summary["errors"] == 2
    assert summary["req_per_s"] == 1.0 and summary["images_per_s"] == 3.0
    assert summary["latency_ms"]["p50"] == 15.0 and summary["latency_ms"]["max"] == 20.0
    assert summary["status_counts"] == {"0": 1, "200": 1, "201": 1, "429": 1}


def test_recall_at_1_compares_first_columns_only():
    exact = np.array([[1, 2], [3, 4], [5, 6], [7, 8]])
    approx = np.array([[1, 9], [4, 3], [5, 5], [7, 0]])
    assert recall_at_1(exact, approx) == 0.75


def test_recall_at_1_different_query_counts_raise_value_error():
    with pytest.raises(ValueError, match="same positive number"):
        recall_at_1(np.array([1, 2]), np.array([1]))
