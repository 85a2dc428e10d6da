"""Pure functions from result documents to the headline figures and markdown tables (no I/O)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

Result = dict[str, Any]

HEADLINE_CLIENTS = 32
HEADLINE_GALLERY = 10_000
P99_CLIENTS = 8
LARGE_GALLERY = 1_000_000
IPS = "images_per_s"
NO_GOAL = "–"  # a figure reported for what it bounds, not against a goal


def runs_of(results: Iterable[Result], scenario: str) -> list[Result]:
    """Every run of `scenario`, each tagged with its document's max_batch, device and file."""
    out = []
    for doc in results:
        if doc.get("scenario") != scenario:
            continue
        tags = {
            "max_batch": doc["config"].get("max_batch"),
            "synthetic": doc["config"].get("synthetic"),
            "device": doc.get("device"),
            "file": doc.get("file"),
        }
        out.extend(tags | run for run in doc.get("runs", []))
    return out


def find_run(runs: Sequence[Result], **where: Any) -> Result | None:
    """The last run whose fields equal `where` (later files win)."""
    found = [r for r in runs if all(r.get(k) == v for k, v in where.items())]
    return found[-1] if found else None


def best_raw(results: Iterable[Result]) -> Result | None:
    """The raw run with the highest images/s."""
    runs = runs_of(results, "raw")
    return max(runs, key=lambda r: r["images_per_s"]) if runs else None


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """numerator / denominator, or None when either is missing or the denominator is zero."""
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator / denominator


@dataclass(frozen=True)
class Figure:
    """One headline figure with its goal, e.g. "≥ 0.8"; `value` None when the runs it needs are missing."""

    name: str
    value: float | None
    goal: str

    @property
    def met(self) -> bool | None:
        if self.value is None or math.isnan(self.value) or self.goal == NO_GOAL:
            return None
        op, target = self.goal.split(" ")
        return self.value >= float(target) if op == "≥" else self.value <= float(target)


def _identify(runs: Sequence[Result], *, clients: int, batching: bool, gallery: int) -> Result | None:
    """The last identify run at that load and gallery size, with batching on (max batch > 1) or off."""
    matches = [r for r in runs if r["clients"] == clients and r["gallery_size"] == gallery]
    matches = [r for r in matches if ((r["max_batch"] or 0) > 1) == batching]
    return matches[-1] if matches else None


def headline(results: Sequence[Result], *, gallery: int = HEADLINE_GALLERY) -> list[Figure]:
    """The figures the goals are stated in, each from runs of the same documents."""
    runs = runs_of(results, "identify")
    on = _identify(runs, clients=HEADLINE_CLIENTS, batching=True, gallery=gallery)
    ceiling = _identify(runs_of(results, "ceiling"), clients=HEADLINE_CLIENTS, batching=True, gallery=gallery)
    off = _identify(runs, clients=HEADLINE_CLIENTS, batching=False, gallery=gallery)
    at8 = _identify(runs, clients=P99_CLIENTS, batching=True, gallery=gallery)
    raw = best_raw(results)
    startup = find_run(runs_of(results, "startup"), gallery_size=LARGE_GALLERY)
    recall = _large_recall(results, layout="model")
    worst = _large_recall(results, layout="uniform")
    where = f"{HEADLINE_CLIENTS} clients, {gallery:,} refs"
    return [
        Figure(f"service ÷ raw images/s ({where})", ratio(pick(on, IPS), pick(raw, IPS)), "≥ 0.8"),
        Figure(
            f"service ceiling ÷ raw images/s ({where}; the service with an encoder that costs nothing)",
            ratio(pick(ceiling, IPS), pick(raw, IPS)),
            NO_GOAL,
        ),
        Figure(f"batching on ÷ off ({where})", ratio(pick(on, IPS), pick(off, IPS)), "≥ 3"),
        Figure(f"p99 ms at {P99_CLIENTS} clients ({gallery:,} refs)", pick(at8, "latency_ms.p99"), "≤ 50"),
        Figure("start-up s, 1M references (from the index snapshot)", pick(startup, "restart_s"), "≤ 10"),
        Figure(
            "first start s, 1M references (no snapshot: exact search until the graph is built)",
            pick(startup, "startup_s"),
            "≤ 10",
        ),
        Figure("ANN recall@1 on real queries, 1M refs", pick(recall, "recall_at_1_real"), "≥ 0.98"),
        Figure("ANN search p50 ms, 1M refs", pick(recall, "ann_search_ms.p50"), "≤ 5"),
        Figure(
            "ANN recall@1 on synthetic queries, 1M uniform refs (worst case)",
            pick(worst, "recall_at_1_synthetic"),
            "≥ 0.98",
        ),
        Figure("ANN search p50 ms, 1M uniform refs (worst case)", pick(worst, "ann_search_ms.p50"), "≤ 5"),
    ]


def _large_recall(results: Iterable[Result], *, layout: str) -> Result | None:
    """The last recall row at 1M references whose synthetic part has `layout` (rows before layouts existed
    were uniform)."""
    rows = [
        r
        for doc in results
        for r in doc.get("recall", [])
        if r["gallery_size"] == LARGE_GALLERY and r.get("synthetic", "uniform") == layout
    ]
    return rows[-1] if rows else None


def fmt(value: Any) -> str:
    """A table cell: numbers rounded for reading, missing values as an en dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 10 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def pick(row: Result | None, path: str) -> Any:
    """`row["a"]["b"]` for the path "a.b"; None where the row or any step is missing."""
    value: Any = row
    for key in path.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    return value


def column_table(rows: Sequence[Result], columns: Sequence[tuple[str, str]]) -> str:
    """A markdown table with one (header, path) column per entry of `columns`."""
    return markdown_table([h for h, _ in columns], ([pick(r, path) for _, path in columns] for r in rows))


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A GitHub markdown table with every cell passed through `fmt`."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(fmt(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)
