"""Identification thresholds by gallery size: the card's table of (G identities, k references) -> threshold
at a target FPIR, and the rule that picks one for a gallery of any size (pure functions, no I/O).

Within the measured sizes the threshold is interpolated linearly in log G; beyond the largest it goes on from
the largest measured size's threshold along the least-squares slope of threshold against log G over the measured
sizes (a nearest-of-G-references statistic falls roughly with log G), so it is continuous there and never looser
than that threshold.
"""

from __future__ import annotations

import math
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

# How identify scores an identity: the distance to its nearest reference, or to its centroid (the unit mean of
# its references). The one definition: the card, the gallery's search and calibration, and training use it.
Statistic = Literal["nearest", "centroid"]
STATISTICS: tuple[Statistic, ...] = typing.get_args(Statistic)


class IdentificationError(ValueError):
    """An identification table is empty or malformed."""


@dataclass(frozen=True)
class IdentificationRow:
    """The threshold at FPIR `fpir` (None: the table's target) for galleries of `identities` x `k`."""

    identities: int
    k: int
    threshold: float
    fnir: float | None = None
    fpir: float | None = None


@dataclass(frozen=True)
class Identification:
    """The card's identification thresholds: the default target FPIR, the decision statistic, the table (rows
    at one or more FPIRs) and how it was made; `test` holds the test split's figures at each row."""

    target_fpir: float
    rows: tuple[IdentificationRow, ...]
    statistic: str = "nearest"
    method: str = ""
    test: tuple[dict, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not self.rows:
            raise IdentificationError("an identification table needs at least one row")
        if self.statistic not in STATISTICS:
            raise IdentificationError(
                f"identification statistic must be one of {STATISTICS}, got {self.statistic!r}"
            )
        if self.target_fpir not in self.fpirs:
            raise IdentificationError(f"no rows at the target FPIR {self.target_fpir}")
        if any(r.identities < 1 or r.k < 1 for r in self.rows):
            raise IdentificationError("identification rows need identities >= 1 and k >= 1")

    @cached_property
    def rows_by_fpir(self) -> dict[float, tuple[IdentificationRow, ...]]:
        """The rows grouped by their FPIR, smallest FPIR first (worked out once: the table never changes)."""
        groups: dict[float, list[IdentificationRow]] = {}
        for row in self.rows:
            groups.setdefault(self.fpir_of(row), []).append(row)
        return {f: tuple(groups[f]) for f in sorted(groups)}

    @property
    def fpirs(self) -> tuple[float, ...]:
        """The FPIRs the table holds rows for, smallest first."""
        return tuple(self.rows_by_fpir)

    def fpir_of(self, row: IdentificationRow) -> float:
        return self.target_fpir if row.fpir is None else row.fpir

    def rows_at(self, fpir: float | None = None) -> tuple[IdentificationRow, ...]:
        """The rows for `fpir` (None: the target): the largest FPIR the table holds at or under it (stricter),
        else its smallest."""
        wanted = self.target_fpir if fpir is None else fpir
        chosen = max((f for f in self.fpirs if f <= wanted), default=self.fpirs[0])
        return self.rows_by_fpir[chosen]

    @classmethod
    def from_dict(cls, data: dict) -> Identification:
        try:
            rows = tuple(IdentificationRow(**row) for row in data["rows"])
            extra = {k: v for k, v in data.items() if k in ("statistic", "method")}
            return cls(
                target_fpir=float(data["target_fpir"]), rows=rows, test=tuple(data.get("test", ())), **extra
            )
        except (KeyError, TypeError) as exc:
            raise IdentificationError(f"malformed identification table: {exc}") from exc


def table_k(rows: Sequence[IdentificationRow], references_per_identity: float) -> int:
    """The table's k for a gallery: the smallest measured k at or above its mean references per identity
    (more references give a stranger more chances, so this errs strict), else the largest measured k."""
    ks = sorted({r.k for r in rows})
    return next((k for k in ks if k >= references_per_identity), ks[-1])


def threshold_for(rows: Sequence[IdentificationRow], *, identities: int, k: int) -> float:
    """The threshold for a gallery of `identities` at table k `k` (see the module docstring)."""
    points = sorted((r.identities, r.threshold) for r in rows if r.k == k)
    if not points:
        raise IdentificationError(f"no identification rows for k={k}")
    g = max(1, identities)
    if g <= points[0][0]:
        return points[0][1]
    for (g0, t0), (g1, t1) in zip(points, points[1:], strict=False):
        if g <= g1:
            w = (math.log(g) - math.log(g0)) / (math.log(g1) - math.log(g0))
            return t0 + w * (t1 - t0)
    last_g, last_t = points[-1]
    return min(last_t, last_t + _slope(points) * (math.log(g) - math.log(last_g)))


def _slope(points: Sequence[tuple[int, float]]) -> float:
    """The least-squares slope of threshold against log G (0 for one point)."""
    if len(points) < 2:
        return 0.0
    xs = [math.log(p[0]) for p in points]
    ys = [p[1] for p in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)


def gallery_threshold(
    table: Identification, *, identities: int, references: int, fpir: float | None = None
) -> float:
    """The threshold for a gallery holding `references` references of `identities` identities, at `fpir`
    (None: the table's target; see `Identification.rows_at`): never stricter than the table gives the same
    gallery at a lower FPIR, which a higher rate allows at least as much as (two rates' rows, each extrapolated
    beyond the largest size along its own slope, can cross: a steep, noisy one falls under a stricter rate's,
    and below 0), so never under 0 either."""
    chosen = table.fpir_of(table.rows_at(fpir)[0])
    per_identity = references / identities if identities else 1.0
    thresholds = [0.0]
    for rate, rows in table.rows_by_fpir.items():
        if rate <= chosen:
            thresholds.append(threshold_for(rows, identities=identities, k=table_k(rows, per_identity)))
    return max(thresholds)
