"""Which identity each reference belongs to, held in memory for the search path.

A search turns up to thousands of neighbour ids per batch into identity names; asking SQLite for them on
every search cost the model thread about 6 % of its time under load. Reference ids are small, dense, never
reused integers, so one int32 code per id ever issued (4 MB per million) plus the list of names answers a
whole matrix of ids in one numpy gather. The gallery updates it under its own lock after each committed write;
the store stays the truth it is loaded from.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from gallery.types import Candidate

NONE = -1  # the code of an id with no stored reference (never issued, deleted, or a FAISS -1 pad)


class ReferenceLabels:
    """Reference id -> identity, for ids the store holds."""

    def __init__(self) -> None:
        self._codes = np.full(0, NONE, dtype=np.int32)
        self._names: list[str] = []
        self._code_of: dict[str, int] = {}

    @classmethod
    def from_pairs(cls, chunks: Iterable[tuple[np.ndarray, Sequence[str]]]) -> ReferenceLabels:
        """Built from (ids, identities) chunks, such as `GalleryStore.reference_identities`."""
        labels = cls()
        for ids, identities in chunks:
            codes = np.fromiter(
                (labels._code(name) for name in identities), dtype=np.int32, count=len(identities)
            )
            labels._put(np.asarray(ids, dtype=np.int64), codes)
        return labels

    def __len__(self) -> int:
        return int(np.count_nonzero(self._codes != NONE))

    def add(self, ids: Sequence[int] | np.ndarray, identity: str) -> None:
        """`ids` now belong to `identity`."""
        ids = np.asarray(ids, dtype=np.int64)
        self._put(ids, np.full(len(ids), self._code(identity), dtype=np.int32))

    def remove(self, ids: Sequence[int] | np.ndarray) -> None:
        """`ids` are no longer stored (ids never issued are ignored)."""
        ids = np.asarray(ids, dtype=np.int64)
        ids = ids[(ids >= 0) & (ids < len(self._codes))]
        self._codes[ids] = NONE

    def codes(self, ids: np.ndarray) -> np.ndarray:
        """The identity code of every id, same shape as `ids`; `NONE` where no reference is stored."""
        ids = np.asarray(ids, dtype=np.int64)
        inside = (ids >= 0) & (ids < len(self._codes))
        out = np.full(ids.shape, NONE, dtype=np.int32)
        out[inside] = self._codes[ids[inside]]
        return out

    def name(self, code: int) -> str:
        return self._names[code]

    def _code(self, name: str) -> int:
        code = self._code_of.get(name)
        if code is None:
            code = self._code_of[name] = len(self._names)
            self._names.append(name)
        return code

    def _put(self, ids: np.ndarray, codes: np.ndarray) -> None:
        if not len(ids):
            return
        if ids.min() < 0:
            raise ValueError("reference ids are positive")
        top = int(ids.max()) + 1
        if top > len(self._codes):
            grown = np.full(max(top, 2 * len(self._codes)), NONE, dtype=np.int32)
            grown[: len(self._codes)] = self._codes
            self._codes = grown
        self._codes[ids] = codes


def aggregate(
    distances: np.ndarray, ids: np.ndarray, codes: np.ndarray, labels: ReferenceLabels, *, top_k: int
) -> list[Candidate]:
    """One row per identity (its nearest reference), nearest first, at most `top_k`; ids whose identity code
    is `NONE` (not stored, or FAISS's -1 padding) skipped."""
    seen: dict[int, Candidate] = {}
    for position in np.argsort(distances, kind="stable"):
        code = int(codes[position])
        if code == NONE or code in seen:
            continue
        seen[code] = Candidate(labels.name(code), float(distances[position]), int(ids[position]))
        if len(seen) == top_k:
            break
    return list(seen.values())
