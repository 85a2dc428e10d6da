"""Headline ratios, cell formatting and tables from literal result documents."""

import pytest

from bench.summary import Figure, column_table, fmt, headline, pick, ratio


def _identify_doc(max_batch: int, runs: list[dict]) -> dict:
    return {
        "scenario": "identify",
        "config": {"max_batch": max_batch},
        "device": "CPUExecutionProvider",
        "runs": runs,
    }


def _run(clients: int, images_per_s: float, p99: float, gallery: int = 10_000) -> dict:
    return {
        "clients": clients,
        "gallery_size": gallery,
        "images_per_s": images_per_s,
        "latency_ms": {"p99": p99},
    }


RAW = [{"batch": 1, "images_per_s": 400.0}, {"batch": 64, "images_per_s": 1000.0}]
STARTUP = [{"gallery_size": 1_000_000, "startup_s": 300.0, "restart_s": 12.5}]
RESULTS = [
    {"scenario": "raw", "config": {"max_batch": 32}, "runs": RAW},
    _identify_doc(32, [_run(8, 700.0, 40.0), _run(32, 850.0, 90.0), _run(32, 999.0, 1.0, gallery=1_000)]),
    _identify_doc(1, [_run(8, 210.0, 60.0), _run(32, 200.0, 300.0)]),
    {"scenario": "startup", "config": {"max_batch": 32}, "runs": STARTUP},
    {"scenario": "ceiling", "config": {"max_batch": 32}, "runs": [_run(32, 900.0, 50.0)]},
]


def test_headline_ratios_from_matching_runs():
    rows = {f.name.split(" (")[0]: (f.value, f.met) for f in headline(RESULTS)}
    assert rows["service ÷ raw images/s"] == (0.85, True)  # 850 / best raw 1000, not the 1k-gallery run
    assert rows["batching on ÷ off"] == (4.25, True)  # 850 / 200
    assert rows["service ceiling ÷ raw images/s"] == (0.9, None)  # a bound, reported without a goal
    assert rows["p99 ms at 8 clients"] == (40.0, True)
    assert rows["start-up s, 1M references"] == (12.5, False)
    assert rows["first start s, 1M references"] == (300.0, False)


def test_headline_recall_separates_identity_like_and_uniform_galleries():
    def recall(layout: str | None, value: float) -> dict:
        row = {"gallery_size": 1_000_000, "recall_at_1_real": value, "ann_search_ms": {"p50": value * 4}}
        row["recall_at_1_synthetic"] = value - 0.1
        row["recall_at_1_synthetic"] = value - 0.1
        return row | ({"synthetic": layout} if layout else {})

    docs = [
        {"scenario": "identify", "config": {"max_batch": 32}, "runs": [], "recall": [recall(None, 0.6)]},
        {
            "scenario": "identify",
            "config": {"max_batch": 32},
            "runs": [],
            "recall": [recall("model", 0.99)],
        },
    ]
    rows = {f.name: (f.value, f.met) for f in headline(docs)}
    assert rows["ANN recall@1 on real queries, 1M refs"] == (0.99, True)
    worst = rows["ANN recall@1 on synthetic queries, 1M uniform refs (worst case)"]  # no layout: uniform
    assert worst[0] == pytest.approx(0.5) and worst[1] is False
    assert rows["ANN search p50 ms, 1M refs"] == (3.96, True)


def test_headline_missing_runs_give_none_not_a_guess():
    assert all(f.value is None and f.met is None for f in headline([RESULTS[0]]))


def test_figure_met_reads_the_goal_direction():
    assert Figure("a", 0.8, "≥ 0.8").met and not Figure("b", 51.0, "≤ 50").met
    assert Figure("c", float("nan"), "≤ 50").met is None


def test_ratio_zero_denominator_is_none():
    assert ratio(3.0, 0.0) is None and ratio(None, 2.0) is None and ratio(3.0, 2.0) == 1.5


def test_fmt_rounds_for_reading():
    assert [fmt(1234.6), fmt(0.98765), fmt(12), fmt(None), fmt(float("nan")), fmt(True)] == [
        "1,235",
        "0.9877",
        "12",
        "–",
        "–",
        "yes",
    ]


def test_pick_missing_path_is_none():
    assert pick({"a": {"b": 2}}, "a.b") == 2 and pick({"a": 1}, "a.b") is None


def test_column_table_renders_header_and_rows():
    table = column_table([{"n": 1, "x": {"y": 2.5}}], [("N", "n"), ("Y", "x.y")])
    assert table.splitlines() == ["| N | Y |", "|---|---|", "| 1 | 2.5 |"]
