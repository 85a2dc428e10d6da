"""The batcher's finish step for identify: one real FAISS/SQLite search per gallery per batch."""

from __future__ import annotations

import hashlib

import numpy as np

from app.search import Deferred, SearchJob, finish_searches
from gallery import Gallery, GalleryRegistry
from gallery.errors import GalleryNotFound
from tests.support.locks import held_elsewhere

DIM = 8


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def _gallery(registry: GalleryRegistry, name: str, vectors: np.ndarray) -> Gallery:
    gallery = registry.create(name, model="m", model_sha256=hashlib.sha256(b"m").hexdigest(), dim=DIM)
    for i, vector in enumerate(vectors):
        sha = hashlib.sha256(f"{name}{i}".encode()).hexdigest()
        gallery.add(f"{name}-{i}", vector[None, :], image_sha256s=[sha])
    return gallery


def test_finish_searches_groups_rows_by_gallery_and_keeps_each_rows_top_k(registry, monkeypatch):
    vectors = _unit(np.eye(DIM)[:4] + 0.01)
    a, b = _gallery(registry, "a", vectors), _gallery(registry, "b", vectors[::-1])
    calls: list[tuple[str, int, int]] = []
    for gallery in (a, b):
        search = gallery.search
        monkeypatch.setattr(
            gallery,
            "search",
            lambda q, *, top_k, wait=True, statistic="nearest", model_sha256=None, g=gallery, s=search: (
                calls.append((g.name, len(q), top_k))
                or s(q, top_k=top_k, wait=wait, statistic=statistic, model_sha256=model_sha256)
            ),
        )
    embeddings = vectors[[0, 1, 2]]
    jobs = [SearchJob(a, top_k=1), SearchJob(b, top_k=2), SearchJob(a, top_k=3)]
    results = finish_searches(embeddings, jobs)
    assert sorted(calls) == [("a", 2, 3), ("b", 1, 2)]  # one call per gallery, at the largest top_k
    assert [c.identity for c in results[0]] == ["a-0"]
    assert [c.identity for c in results[1]][0] == "b-2" and len(results[1]) == 2  # b holds them reversed
    assert [c.identity for c in results[2]][0] == "a-2" and len(results[2]) == 3


def test_finish_searches_row_without_job_comes_back_as_its_embedding(registry):
    vectors = _unit(np.eye(DIM)[:2] + 0.01)
    a = _gallery(registry, "a", vectors)
    results = finish_searches(vectors, [None, SearchJob(a, top_k=1)])
    np.testing.assert_array_equal(results[0], vectors[0])
    assert results[1][0].identity == "a-1"


def test_finish_searches_deleted_gallery_fails_only_its_rows(registry):
    vectors = _unit(np.eye(DIM)[:2] + 0.01)
    a, b = _gallery(registry, "a", vectors), _gallery(registry, "b", vectors)
    registry.delete("b")
    results = finish_searches(vectors, [SearchJob(a, top_k=1), SearchJob(b, top_k=1)])
    assert results[0][0].identity == "a-0"
    assert isinstance(results[1], GalleryNotFound)


def test_finish_searches_gallery_busy_with_a_write_defers_its_rows(registry):
    vectors = _unit(np.eye(DIM)[:2] + 0.01)
    a, b = _gallery(registry, "a", vectors), _gallery(registry, "b", vectors)
    with held_elsewhere(b._lock):  # what a long write (an index rebuild) holds
        results = finish_searches(vectors, [SearchJob(a, top_k=1), SearchJob(b, top_k=1)])
    assert results[0][0].identity == "a-0"
    assert isinstance(results[1], Deferred)
    np.testing.assert_array_equal(results[1].embedding, vectors[1])
