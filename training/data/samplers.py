"""Seeded samplers: balanced same/different pairs, and P classes x K images batches.

Both are plain iterables with `__len__` and `set_epoch`, so they plug into torch's DataLoader as a
`sampler` / `batch_sampler` without importing torch here.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _index_by_class(labels: Sequence[int]) -> list[np.ndarray]:
    """Dataset indices of each class, classes in sorted label order."""
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise ValueError("labels must be a flat sequence of class ids")
    classes, inverse = np.unique(arr, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    return np.split(order, np.cumsum(np.bincount(inverse, minlength=len(classes)))[:-1])


def _epoch_rng(seed: int, epoch: int) -> np.random.Generator:
    return np.random.default_rng([seed, epoch])


def _pick_in(groups: list[np.ndarray], which: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One random member of groups[c] for each c in `which`."""
    sizes = np.array([len(groups[c]) for c in which])
    pos = rng.integers(0, sizes)
    return np.array([groups[c][p] for c, p in zip(which, pos, strict=True)], dtype=np.int64)


class BalancedPairSampler:
    """Yields `pairs_per_epoch` pairs (i, j, same), alternating same (1) and different (0), i != j.

    Same pairs: a class drawn uniformly among classes with 2+ images, then two distinct images of it.
    Different pairs: two distinct classes drawn uniformly, then one image of each. Drawing classes
    uniformly (not by image count) balances unbalanced datasets. Pairs are fixed by (seed, epoch).
    """

    def __init__(self, labels: Sequence[int], *, pairs_per_epoch: int, seed: int) -> None:
        self.pairs_per_epoch = _check_int("pairs_per_epoch", pairs_per_epoch, 2)
        if self.pairs_per_epoch % 2:
            raise ValueError(f"pairs_per_epoch must be even, got {pairs_per_epoch}")
        self.seed = _check_int("seed", seed, 0)
        self._classes = _index_by_class(labels)
        self._multi = [c for c in self._classes if len(c) >= 2]
        if len(self._classes) < 2:
            raise ValueError(f"pairs need at least 2 classes, got {len(self._classes)}")
        if not self._multi:
            raise ValueError("same-class pairs need a class with at least 2 images; none has")
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = _check_int("epoch", epoch, 0)

    def __len__(self) -> int:
        return self.pairs_per_epoch

    def _same(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        which = rng.integers(0, len(self._multi), n)
        sizes = np.array([len(self._multi[c]) for c in which])
        a = rng.integers(0, sizes)
        b = rng.integers(0, sizes - 1)
        b += b >= a
        i = np.array([self._multi[c][p] for c, p in zip(which, a, strict=True)], dtype=np.int64)
        j = np.array([self._multi[c][p] for c, p in zip(which, b, strict=True)], dtype=np.int64)
        return i, j

    def _different(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        first = rng.integers(0, len(self._classes), n)
        second = rng.integers(0, len(self._classes) - 1, n)
        second += second >= first
        return _pick_in(self._classes, first, rng), _pick_in(self._classes, second, rng)

    def __iter__(self) -> Iterator[tuple[int, int, int]]:
        rng = _epoch_rng(self.seed, self.epoch)
        half = self.pairs_per_epoch // 2
        same_i, same_j = self._same(half, rng)
        diff_i, diff_j = self._different(half, rng)
        for k in range(half):
            yield int(same_i[k]), int(same_j[k]), 1
            yield int(diff_i[k]), int(diff_j[k]), 0


class PKSampler:
    """Yields `batches_per_epoch` batches of p*k dataset indices: p distinct classes, k images each.

    Classes come in rounds: each round is a seeded permutation of all eligible classes, consumed p at
    a time, so every class appears about equally often. A class with >= k images gives k distinct
    images; one with fewer gives each of its images once, then repeats drawn with replacement.
    Only classes with at least `min_per_class` images (default 2: one image makes no positive pair)
    are eligible. Batches are fixed by (seed, epoch); each batch lists its classes' indices contiguously.
    """

    def __init__(
        self,
        labels: Sequence[int],
        *,
        p: int,
        k: int,
        batches_per_epoch: int,
        seed: int,
        min_per_class: int = 2,
        groups: Sequence[str] | None = None,
    ) -> None:
        """`groups` (one per item) makes each batch draw its classes from one group where it can, so that
        negatives are hard (same source set) rather than told apart by the set's style."""
        self.p = _check_int("p", p, 2)
        self.k = _check_int("k", k, 2)
        self.batches_per_epoch = _check_int("batches_per_epoch", batches_per_epoch, 1)
        self.seed = _check_int("seed", seed, 0)
        min_per_class = _check_int("min_per_class", min_per_class, 1)
        self._classes = [c for c in _index_by_class(labels) if len(c) >= min_per_class]
        if len(self._classes) < self.p:
            raise ValueError(
                f"p={self.p} classes per batch, but only {len(self._classes)} classes have "
                f">= {min_per_class} images"
            )
        if groups is not None and len(groups) != len(labels):
            raise ValueError(f"groups has {len(groups)} entries for {len(labels)} labels")
        self._by_group: list[np.ndarray] = []
        if groups is not None:
            owner = np.asarray([groups[int(c[0])] for c in self._classes])
            self._by_group = [np.flatnonzero(owner == g) for g in sorted(set(owner))]
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = _check_int("epoch", epoch, 0)

    def __len__(self) -> int:
        return self.batches_per_epoch

    def _images(self, members: np.ndarray, rng: np.random.Generator) -> list[int]:
        if len(members) >= self.k:
            return [int(i) for i in rng.choice(members, self.k, replace=False)]
        extra = rng.choice(members, self.k - len(members), replace=True)
        return [int(i) for i in np.concatenate([rng.permutation(members), extra])]

    def _class_batches(self, rng: np.random.Generator) -> Iterator[list[int]]:
        pending: list[int] = []
        while True:
            if len(pending) < self.p:
                fresh = [int(c) for c in rng.permutation(len(self._classes))]
                taken = set(pending)
                chosen = [c for c in fresh if c not in taken][: self.p - len(pending)]
                used = set(chosen)
                batch, pending = pending + chosen, [c for c in fresh if c not in used]
            else:
                batch, pending = pending[: self.p], pending[self.p :]
            yield batch

    def _group_batches(self, rng: np.random.Generator) -> Iterator[list[int]]:
        """One group per batch (weighted by its class count); topped up from the others when too small."""
        weights = np.asarray([len(g) for g in self._by_group], dtype=float)
        while True:
            members = self._by_group[rng.choice(len(self._by_group), p=weights / weights.sum())]
            chosen = [int(c) for c in rng.permutation(members)[: self.p]]
            if len(chosen) < self.p:
                rest = np.setdiff1d(np.arange(len(self._classes)), chosen)
                chosen += [int(c) for c in rng.choice(rest, self.p - len(chosen), replace=False)]
            yield chosen

    def __iter__(self) -> Iterator[list[int]]:
        rng = _epoch_rng(self.seed, self.epoch)
        classes = self._group_batches(rng) if self._by_group else self._class_batches(rng)
        for _ in range(self.batches_per_epoch):
            yield [i for c in next(classes) for i in self._images(self._classes[c], rng)]
