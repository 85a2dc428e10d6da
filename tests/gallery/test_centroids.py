"""The centroid rule: identities scored by the unit mean of their references, kept in step with writes."""

import numpy as np
import pytest

from gallery.centroids import CentroidCache, centroid
from gallery.types import Candidate


def unit(*xs: float, dim: int) -> np.ndarray:
    v = np.zeros(dim, dtype=np.float32)
    v[: len(xs)] = xs
    return v / np.linalg.norm(v)


def test_centroid_is_the_unit_mean():
    rows = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    assert centroid(rows) == pytest.approx([np.sqrt(0.5), np.sqrt(0.5)])


def test_rescore_orders_by_centroid_and_keeps_the_nearest_reference():
    refs = {"a": np.array([[1.0, 0.0], [-1.0, 0.0]]), "b": np.array([[0.6, 0.8]])}
    cache = CentroidCache(lambda name: refs[name])
    query = np.array([1.0, 0.0])
    # by nearest reference "a" wins (0.0); its centroid is the zero vector, at distance 1 > 0.894 ("b")
    found = cache.rescore(query, [Candidate("a", 0.0, 1), Candidate("b", 0.894, 3)], top_k=2)
    assert [(c.identity, c.reference_id) for c in found] == [("b", 3), ("a", 1)]
    assert found[0].distance == pytest.approx(np.sqrt(0.4**2 + 0.8**2))


def test_gallery_centroid_search_follows_adds_and_deletes(gallery, shas, dim):
    # alice: one reference right on the query and one far off; bob: two close to the query
    gallery.add("alice", np.stack([unit(1, 0, dim=dim), unit(0, 0, 1, dim=dim)]), image_sha256s=shas(2))
    gallery.add("bob", np.stack([unit(1, 0.3, dim=dim), unit(1, -0.3, dim=dim)]), image_sha256s=shas(2))
    query = unit(1, dim=dim)[None, :]
    assert gallery.search(query, top_k=2)[0][0].identity == "alice"  # nearest reference: alice, at 0
    assert gallery.search(query, top_k=2, statistic="centroid")[0][0].identity == "bob"
    [far] = gallery.add("alice", unit(1, 0.01, dim=dim)[None, :], image_sha256s=shas(1))  # alice moves closer
    [found] = gallery.search(query, top_k=2, statistic="centroid")
    alice = next(c for c in found if c.identity == "alice")
    assert alice.distance == pytest.approx(
        np.linalg.norm(
            centroid(np.stack([unit(1, 0, dim=dim), unit(0, 0, 1, dim=dim), unit(1, 0.01, dim=dim)]))
            - query[0]
        ),
        abs=1e-5,
    )
    gallery.delete_reference(far)
    gallery.delete_identity("bob")
    [found] = gallery.search(query, top_k=2, statistic="centroid")
    assert [c.identity for c in found] == ["alice"]
    assert found[0].distance == pytest.approx(
        np.linalg.norm(centroid(np.stack([unit(1, 0, dim=dim), unit(0, 0, 1, dim=dim)])) - query[0]), abs=1e-5
    )


def test_gallery_search_refuses_an_unknown_statistic(gallery, dim):
    with pytest.raises(ValueError, match="statistic"):
        gallery.search(unit(1, dim=dim)[None, :], top_k=1, statistic="median")
