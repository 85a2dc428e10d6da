"""Read histograms out of the service's Prometheus `/metrics` text (parsed with prometheus_client)."""

from __future__ import annotations

from collections.abc import Mapping

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bench.stats import histogram_mean


def histogram_totals(text: str, *, name: str, labels: Mapping[str, str] | None = None) -> tuple[float, float]:
    """(sum, count) of histogram `name`, added over every label set that matches `labels`."""
    want = dict(labels or {})
    total_sum = total_count = 0.0
    for family in text_string_to_metric_families(text):
        if family.name != name:
            continue
        for sample in family.samples:
            if any(sample.labels.get(k) != v for k, v in want.items()):
                continue
            if sample.name == f"{name}_sum":
                total_sum += sample.value
            elif sample.name == f"{name}_count":
                total_count += sample.value
    return total_sum, total_count


def scraped_mean(
    before: str, after: str, *, name: str, labels: Mapping[str, str] | None = None
) -> float | None:
    """Mean observation of histogram `name` between two scrapes; None when nothing was observed."""
    return histogram_mean(
        before=histogram_totals(before, name=name, labels=labels),
        after=histogram_totals(after, name=name, labels=labels),
    )


def metric_names(text: str) -> set[str]:
    """Every metric family name in an exposition text."""
    return {family.name for family in text_string_to_metric_families(text)}


def fetch_metrics(client: httpx.Client, *, base_url: str, headers: Mapping[str, str]) -> str:
    """GET /metrics and return its text; raises httpx.HTTPStatusError on a non-2xx answer."""
    response = client.get(f"{base_url}/metrics", headers=dict(headers))
    response.raise_for_status()
    return response.text
