"""Seeded train/val/test splits of records: by class (few-shot), by image within class, or by group."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from training.data.records import Record


@dataclass(frozen=True)
class Split:
    """Three disjoint record lists; each keeps the input order of its records."""

    train: list[Record]
    val: list[Record]
    test: list[Record]

    def summary(self) -> dict[str, dict[str, int]]:
        """Class and image counts per part, e.g. {"train": {"classes": 3, "images": 60}, ...}."""
        parts = {"train": self.train, "val": self.val, "test": self.test}
        return {k: {"classes": len({r.label for r in v}), "images": len(v)} for k, v in parts.items()}


def _check_fractions(val: float, test: float) -> None:
    if not (0.0 <= val < 1.0 and 0.0 <= test < 1.0 and val + test < 1.0):
        raise ValueError(
            f"val and test must be fractions >= 0 with val + test < 1, got val={val}, test={test}"
        )


def _round(x: float) -> int:
    """Round half up (Python's round() rounds half to even)."""
    return math.floor(x + 0.5)


def _assemble(records: Sequence[Record], part_of: dict[str, str]) -> Split:
    """Place each record by its label's part ("train" | "val" | "test")."""
    parts: dict[str, list[Record]] = {"train": [], "val": [], "test": []}
    for r in records:
        parts[part_of[r.label]].append(r)
    return Split(**parts)


def _classes_by_group(records: Sequence[Record]) -> dict[str, list[str]]:
    """Sorted labels per group; a label belongs to the group of its first record."""
    group_of: dict[str, str] = {}
    for r in records:
        group_of.setdefault(r.label, r.group)
    groups: dict[str, list[str]] = {}
    for label in sorted(group_of):
        groups.setdefault(group_of[label], []).append(label)
    return groups


def _apportion(sizes: dict[str, int], fraction: float) -> dict[str, int]:
    """Split round(fraction * total) over groups in proportion to size (largest remainders win)."""
    quotas = {g: fraction * n for g, n in sizes.items()}
    counts = {g: math.floor(q) for g, q in quotas.items()}
    spare = _round(fraction * sum(sizes.values())) - sum(counts.values())
    for g in sorted(quotas, key=lambda g: (counts[g] - quotas[g], g))[: max(spare, 0)]:
        counts[g] += 1
    return counts


def _group_counts(n: int, n_val: int, n_test: int, *, val: float, test: float) -> tuple[int, int]:
    """Give each wanted part >= 1 class when the group can spare it, and train >= 1 class."""
    wanted = (val > 0) + (test > 0)
    if n > wanted:
        n_val, n_test = max(n_val, int(val > 0)), max(n_test, int(test > 0))
    while n_val + n_test >= n and n_val + n_test > 0:
        if n_test >= n_val:
            n_test -= 1
        else:
            n_val -= 1
    return n_val, n_test


def split_by_class(records: Sequence[Record], *, val: float, test: float, seed: int) -> Split:
    """Split whole classes, so val and test identities never appear in train (the few-shot split).

    `val` and `test` are fractions of classes. Classes are apportioned within each Record.group so every
    group gives each part at least one class when it has classes to spare (and always keeps one for train);
    overall counts are round(fraction * classes), plus any such minimums.
    """
    _check_fractions(val, test)
    groups = _classes_by_group(records)
    sizes = {g: len(labels) for g, labels in groups.items()}
    vals, tests = _apportion(sizes, val), _apportion(sizes, test)
    rng = random.Random(seed)
    part_of: dict[str, str] = {}
    for g in sorted(groups):
        n_val, n_test = _group_counts(sizes[g], vals[g], tests[g], val=val, test=test)
        labels = groups[g][:]
        rng.shuffle(labels)
        for i, label in enumerate(labels):
            part_of[label] = "test" if i < n_test else "val" if i < n_test + n_val else "train"
    return _assemble(records, part_of)


def _image_counts(n: int, *, val: float, test: float, min_train: int) -> tuple[int, int]:
    n_val, n_test = _round(val * n), _round(test * n)
    while n_val + n_test > 0 and n - n_val - n_test < min_train:
        if n_test >= n_val:
            n_test -= 1
        else:
            n_val -= 1
    return n_val, n_test


def split_by_image(
    records: Sequence[Record], *, val: float, test: float, seed: int, min_train: int = 1
) -> Split:
    """Split the images of every class: round(fraction * images) each to val and test, the rest to train.

    Every class keeps at least `min_train` train images (val and test give way; a class with fewer than
    `min_train` images goes wholly to train), so small classes may be absent from val or test.
    """
    _check_fractions(val, test)
    if min_train < 0:
        raise ValueError(f"min_train must be >= 0, got {min_train}")
    by_label: dict[str, list[int]] = {}
    for i, r in enumerate(records):
        by_label.setdefault(r.label, []).append(i)
    rng = random.Random(seed)
    part_of_index: dict[int, str] = {}
    for label in sorted(by_label):
        idx = by_label[label][:]
        rng.shuffle(idx)
        n_val, n_test = _image_counts(len(idx), val=val, test=test, min_train=min_train)
        for pos, i in enumerate(idx):
            part_of_index[i] = "test" if pos < n_test else "val" if pos < n_test + n_val else "train"
    parts: dict[str, list[Record]] = {"train": [], "val": [], "test": []}
    for i, r in enumerate(records):
        parts[part_of_index[i]].append(r)
    return Split(**parts)


def _named(spec: int | Sequence[str]) -> list[str]:
    if isinstance(spec, str):
        return [spec]
    return [] if isinstance(spec, int) else list(spec)


def _pick_groups(
    groups: list[str], *, val_groups: int | Sequence[str], test_groups: int | Sequence[str], seed: int
) -> tuple[set[str], set[str]]:
    val_named, test_named = _named(val_groups), _named(test_groups)
    unknown = sorted(set(val_named + test_named) - set(groups))
    if unknown:
        raise ValueError(f"unknown groups {unknown}; groups are {groups}")
    if set(val_named) & set(test_named):
        raise ValueError(f"groups in both val and test: {sorted(set(val_named) & set(test_named))}")
    pool = [g for g in groups if g not in val_named and g not in test_named]
    n_test = test_groups if isinstance(test_groups, int) else 0
    n_val = val_groups if isinstance(val_groups, int) else 0
    if n_test < 0 or n_val < 0:
        raise ValueError(f"group counts must be >= 0, got val_groups={val_groups}, test_groups={test_groups}")
    if n_test + n_val >= len(pool):
        raise ValueError(
            f"cannot take {n_val} val + {n_test} test groups and keep one of {len(pool)} for train"
        )
    picked = random.Random(seed).sample(pool, n_test + n_val)
    return set(val_named) | set(picked[n_test:]), set(test_named) | set(picked[:n_test])


def split_by_group(
    records: Sequence[Record], *, val_groups: int | Sequence[str], test_groups: int | Sequence[str], seed: int
) -> Split:
    """Send whole groups (e.g. Omniglot alphabets) to val and test; the other groups train.

    Each of `val_groups` / `test_groups` is either a number of groups picked at random (seeded, from the
    groups not named) or the group names themselves; a single string is one group name.
    """
    groups = sorted({r.group for r in records})
    val_set, test_set = _pick_groups(groups, val_groups=val_groups, test_groups=test_groups, seed=seed)
    parts: dict[str, list[Record]] = {"train": [], "val": [], "test": []}
    for r in records:
        parts["val" if r.group in val_set else "test" if r.group in test_set else "train"].append(r)
    return Split(**parts)
