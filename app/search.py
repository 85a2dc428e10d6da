"""Gallery searches done by the batcher's postprocess thread after the model: one FAISS call per gallery per
batch.

`finish_searches` is the batcher's postprocess stage (`SearchJob -> SearchResult`). Rows without a job come back as their embedding; a gallery
that fails (deleted meanwhile, say) fails only the rows that searched it. A gallery busy with a write is not
waited for on the postprocess thread (every gallery's searches pass there): its rows come back `Deferred`, for the
request to search on a worker thread of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from gallery.errors import GalleryBusy
from gallery.gallery import Gallery
from gallery.types import Candidate


@dataclass(frozen=True)
class SearchJob:
    """Search `gallery` for the item's embedding; keep `top_k` identities, scored by `statistic`."""

    gallery: Gallery
    top_k: int
    statistic: str = "nearest"
    model_sha256: str | None = None  # the model that embedded it: a gallery since switched to another refuses


@dataclass(frozen=True)
class Deferred:
    """The gallery was busy with a write: search `embedding` later, on a worker thread."""

    embedding: np.ndarray


SearchResult = list[Candidate] | Deferred  # what identify gets back for its SearchJob


def finish_searches(
    embeddings: np.ndarray, jobs: Sequence[SearchJob | None]
) -> list[SearchResult | np.ndarray | BaseException]:
    """Per row: its candidates (nearest first, at most its own top_k), its embedding when it has no job, or
    the exception its gallery's search raised."""
    results: list[Any] = list(embeddings)
    groups: dict[int, list[tuple[int, SearchJob]]] = {}
    for row, job in enumerate(jobs):
        if job is not None:
            groups.setdefault(id(job.gallery), []).append((row, job))
    for members in groups.values():
        for (row, job), found in zip(members, _search_group(embeddings, members), strict=True):
            results[row] = found if isinstance(found, BaseException | Deferred) else found[: job.top_k]
    return results


def _search_group(embeddings: np.ndarray, members: list[tuple[int, SearchJob]]) -> list[Any]:
    """One search of one gallery for all its rows, at the largest top_k asked (one model per gallery, so one
    statistic); the exception per row if it fails."""
    gallery = members[0][1].gallery
    rows = [row for row, _ in members]
    try:
        top_k, statistic = max(job.top_k for _, job in members), members[0][1].statistic
        sha = members[0][1].model_sha256
        found = gallery.search(
            embeddings[rows], top_k=top_k, wait=False, statistic=statistic, model_sha256=sha
        )
        return list(found)
    except GalleryBusy:
        return [Deferred(embeddings[row]) for row in rows]
    except Exception as exc:  # reported to the requests that searched this gallery, as they would see it
        return [exc] * len(members)
