"""Gallery: store + index kept consistent; per-identity aggregation, growing k, deletes, rollback, threads."""

import threading

import numpy as np
import pytest

from gallery import Gallery, GalleryRegistry
from gallery.errors import DimensionMismatch, ModelMismatch
from gallery.labels import ReferenceLabels, aggregate


def _at_distance(distances: list[float], *, axis: int, dim: int) -> np.ndarray:
    """Unit vectors at the given l2 distances from e0, each leaning towards e_axis (+ its row)."""
    rows = []
    for i, d in enumerate(distances):
        cos = 1.0 - d * d / 2.0
        v = np.zeros(dim, dtype=np.float32)
        v[0], v[axis + i] = cos, np.sqrt(1.0 - cos * cos)
        rows.append(v)
    return np.stack(rows)


def _e0(dim: int) -> np.ndarray:
    q = np.zeros((1, dim), dtype=np.float32)
    q[0, 0] = 1.0
    return q


def test_search_aggregates_one_row_per_identity_nearest_first(gallery, shas, dim):
    alice = gallery.add("alice", _at_distance([0.9, 0.2, 0.5], axis=1, dim=dim), image_sha256s=shas(3))
    bob = gallery.add("bob", _at_distance([0.6, 0.3], axis=4, dim=dim), image_sha256s=shas(2))
    [found] = gallery.search(_e0(dim), top_k=5)
    assert [(c.identity, c.reference_id) for c in found] == [("alice", alice[1]), ("bob", bob[1])]
    assert [c.distance for c in found] == pytest.approx([0.2, 0.3], abs=1e-4)


def test_search_top_k_limits_identities(gallery, shas, dim):
    gallery.add("alice", _at_distance([0.2, 0.5], axis=1, dim=dim), image_sha256s=shas(2))
    gallery.add("bob", _at_distance([0.3], axis=4, dim=dim), image_sha256s=shas(1))
    [found] = gallery.search(_e0(dim), top_k=1)
    assert [c.identity for c in found] == ["alice"]


@pytest.mark.parametrize("ann_min_size", [None, 100], ids=["flat", "hnsw"])
def test_search_grows_k_past_an_identity_with_many_close_references(
    tmp_path, shas, unit_vectors, dim, ann_min_size
):
    registry = GalleryRegistry(tmp_path, ann_min_size=ann_min_size)
    registry.open()
    gallery = registry.create("faces", model="faces", model_sha256="a" * 64, dim=dim)
    crowd = _e0(dim) + 0.03 * unit_vectors(300)  # 300 references of one identity, all near the query
    gallery.add("crowd", crowd, image_sha256s=shas(300))
    [far_id] = gallery.add("loner", _at_distance([0.8], axis=1, dim=dim), image_sha256s=shas(1))
    [found] = gallery.search(_e0(dim), top_k=2)
    registry.close()
    assert gallery.index.kind == ("flat" if ann_min_size is None else "hnsw")
    assert [c.identity for c in found] == ["crowd", "loner"]
    assert found[1].reference_id == far_id and found[1].distance == pytest.approx(0.8, abs=1e-4)


def test_reopened_gallery_names_the_identities_its_store_holds(tmp_path, shas, unit_vectors, dim):
    vectors = unit_vectors(6)
    registry = GalleryRegistry(tmp_path)
    registry.open()
    gallery = registry.create("faces", model="faces", model_sha256="a" * 64, dim=dim)
    for i, name in enumerate(["alice", "bob", "carol"]):
        gallery.add(name, vectors[2 * i : 2 * i + 2], image_sha256s=shas(2))
    gallery.delete_identity("bob")
    registry.close()
    registry = GalleryRegistry(tmp_path)
    registry.open()
    found = registry.get("faces").search(vectors, top_k=1)
    registry.close()
    names = [row[0].identity for row in found]
    assert names[:2] == ["alice", "alice"] and names[4:] == ["carol", "carol"]
    assert "bob" not in names


def test_search_empty_gallery_returns_empty_list_per_query(gallery, unit_vectors):
    assert gallery.search(unit_vectors(3), top_k=5) == [[], [], []]


def test_deleted_identity_is_never_returned(gallery, shas, unit_vectors):
    vectors = unit_vectors(9)
    for i, name in enumerate(["alice", "bob", "carol"]):
        gallery.add(name, vectors[3 * i : 3 * i + 3], image_sha256s=shas(3))
    assert gallery.delete_identity("bob") == 3
    found = gallery.search(vectors, top_k=3)
    assert all(c.identity != "bob" for row in found for c in row)
    assert gallery.info.identities == 2 and gallery.info.references == 6


def test_deleted_reference_is_never_returned(gallery, shas, dim):
    ids = gallery.add("alice", _at_distance([0.1, 0.4], axis=1, dim=dim), image_sha256s=shas(2))
    assert gallery.delete_reference(ids[0]) == "alice"
    [found] = gallery.search(_e0(dim), top_k=5)
    assert [(c.identity, c.reference_id) for c in found] == [("alice", ids[1])]
    assert found[0].distance == pytest.approx(0.4, abs=1e-4)


def test_add_whose_index_step_fails_rolls_back_the_store(gallery, shas, unit_vectors, monkeypatch):
    def broken_add(vectors, ids):
        raise RuntimeError("index full")

    monkeypatch.setattr(gallery.index, "add", broken_add)
    with pytest.raises(RuntimeError, match="index full"):
        gallery.add("alice", unit_vectors(2), image_sha256s=shas(2))
    monkeypatch.undo()
    assert gallery.info.references == 0 and gallery.index.ntotal == 0
    assert gallery.search(unit_vectors(1), top_k=1) == [[]]
    gallery.add("bob", unit_vectors(1), image_sha256s=shas(1))
    assert gallery.search(unit_vectors(1), top_k=1)[0][0].identity == "bob"


def test_failed_add_on_hnsw_does_not_hide_the_reference_that_reuses_its_id(
    tmp_path, shas, unit_vectors, dim, monkeypatch
):
    registry = GalleryRegistry(tmp_path, ann_min_size=1)
    registry.open()
    gallery = registry.create("faces", model="faces", model_sha256="a" * 64, dim=dim)
    gallery.add("alice", unit_vectors(1), image_sha256s=shas(1))
    real_add = gallery.index.add

    def add_then_fail(vectors, ids):
        real_add(vectors, ids)
        raise RuntimeError("late failure")

    monkeypatch.setattr(gallery.index, "add", add_then_fail)
    probe = unit_vectors(1, seed=4)
    with pytest.raises(RuntimeError, match="late failure"):
        gallery.add("bob", probe, image_sha256s=shas(1))
    monkeypatch.undo()
    [carol_id] = gallery.add("carol", probe, image_sha256s=shas(1))  # SQLite hands out bob's id again
    [found] = gallery.search(probe, top_k=2)
    registry.close()
    assert (found[0].identity, found[0].reference_id) == ("carol", carol_id)
    assert [c.identity for c in found] == ["carol", "alice"]


def test_add_normalizes_embeddings_before_storing(gallery, shas, dim):
    gallery.add("alice", 5.0 * _e0(dim), image_sha256s=shas(1))
    [found] = gallery.search(_e0(dim), top_k=1)
    assert found[0].distance == pytest.approx(0.0, abs=1e-3)


def test_add_invalid_input_raises_and_stores_nothing(gallery, shas, unit_vectors, dim):
    with pytest.raises(DimensionMismatch):
        gallery.add("alice", unit_vectors(1, dim=dim + 1), image_sha256s=shas(1))
    with pytest.raises(ValueError, match="identity"):
        gallery.add("bad\nname", unit_vectors(1), image_sha256s=shas(1))
    with pytest.raises(ValueError, match="zero"):
        gallery.add("alice", np.zeros((1, dim)), image_sha256s=shas(1))
    with pytest.raises(ValueError, match="one image sha256 per embedding"):
        gallery.add("alice", unit_vectors(2), image_sha256s=shas(1))
    assert gallery.info.references == 0


def test_search_with_bad_top_k_raises_value_error(gallery, unit_vectors):
    with pytest.raises(ValueError, match="top_k"):
        gallery.search(unit_vectors(1), top_k=0)


def test_check_model_other_sha_raises_model_mismatch_naming_both(gallery, model_sha):
    gallery.check_model(model_sha)
    other = "b" * 64
    with pytest.raises(ModelMismatch) as caught:
        gallery.check_model(other)
    assert model_sha in str(caught.value) and other in str(caught.value)
    assert caught.value.code == "model_mismatch"


def test_set_threshold_updates_info_and_rejects_out_of_range(gallery):
    gallery.set_threshold(0.7)
    assert gallery.info.threshold == 0.7
    gallery.set_threshold(None)
    assert gallery.info.threshold is None
    with pytest.raises(ValueError, match="threshold"):
        gallery.set_threshold(3.0)


def test_stored_references_reads_every_live_row_with_its_identity(gallery, shas, unit_vectors):
    vectors = unit_vectors(5, seed=3)
    gallery.add("ann", vectors[:2], image_sha256s=shas(2))
    (bob_first, _) = gallery.add("bob", vectors[2:4], image_sha256s=shas(2))
    gallery.add("cy", vectors[4:], image_sha256s=shas(1))
    gallery.delete_reference(bob_first)
    matrix, identities, damaged = gallery.stored_references()
    assert damaged == {}
    assert list(identities) == ["ann", "ann", "bob", "cy"]
    np.testing.assert_allclose(matrix, vectors[[0, 1, 3, 4]], atol=1e-6)


def test_gallery_switches_to_hnsw_when_crossing_ann_min_size(tmp_path, shas, unit_vectors, dim):
    registry = GalleryRegistry(tmp_path, ann_min_size=50)
    registry.open()
    gallery = registry.create("faces", model="faces", model_sha256="a" * 64, dim=dim)
    vectors = unit_vectors(60)
    gallery.add("first", vectors[:40], image_sha256s=shas(40))
    assert gallery.index.kind == "flat"
    gallery.add("second", vectors[40:], image_sha256s=shas(20))
    found = gallery.search(vectors, top_k=1)
    registry.close()
    assert gallery.index.kind == "hnsw"
    assert [row[0].identity for row in found] == ["first"] * 40 + ["second"] * 20


def test_hnsw_gallery_compacts_after_many_deletes(tmp_path, shas, unit_vectors, dim):
    registry = GalleryRegistry(tmp_path, ann_min_size=1, compact_fraction=0.2)
    registry.open()
    gallery = registry.create("faces", model="faces", model_sha256="a" * 64, dim=dim)
    vectors = unit_vectors(10)
    for i in range(10):
        gallery.add(f"id{i}", vectors[i : i + 1], image_sha256s=shas(1))
    for i in range(3):
        gallery.delete_identity(f"id{i}")
    found = gallery.search(vectors[3:], top_k=1)
    registry.close()
    assert gallery.index.kind == "hnsw" and gallery.index.tombstones == frozenset()
    assert [row[0].identity for row in found] == [f"id{i}" for i in range(3, 10)]


def test_aggregate_literal_keeps_nearest_per_identity_and_skips_unknown_ids():
    distances = np.array([0.5, 0.1, 0.3, 0.2, np.inf])
    ids = np.array([10, 11, 12, 13, -1])
    labels = ReferenceLabels.from_pairs([(np.array([10, 11, 12, 13]), ["a", "b", "a", "b"])])
    found = aggregate(distances, ids, labels.codes(ids), labels, top_k=5)
    assert [(c.identity, c.reference_id, c.distance) for c in found] == [("b", 11, 0.1), ("a", 12, 0.3)]


def test_concurrent_adds_and_searches_from_8_threads_stay_consistent(gallery: Gallery, shas, unit_vectors):
    vectors = unit_vectors(4 * 15 * 2, seed=5)
    acknowledged: dict[str, np.ndarray] = {}
    errors: list[BaseException] = []

    def writer(w: int) -> None:
        for i in range(15):
            name, rows = f"w{w}-{i}", vectors[(w * 15 + i) * 2 : (w * 15 + i) * 2 + 2]
            gallery.add(name, rows, image_sha256s=shas(2))
            acknowledged[name] = rows

    def reader() -> None:
        for _ in range(40):
            for name, rows in list(acknowledged.items())[-3:]:
                [found] = gallery.search(rows[:1], top_k=3)
                if found[0].identity != name:
                    raise AssertionError(f"{name} searched, got {found[0]}")

    def run(target, *args) -> None:
        try:
            target(*args)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(writer, w)) for w in range(4)]
    threads += [threading.Thread(target=run, args=(reader,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert gallery.info.identities == 60 and gallery.info.references == 120 == gallery.index.ntotal
    found = gallery.search(np.stack([rows[0] for rows in acknowledged.values()]), top_k=1)
    assert [row[0].identity for row in found] == list(acknowledged)


def test_search_without_wait_on_a_gallery_held_by_a_write_raises_gallery_busy(gallery, unit_vectors, shas):
    from gallery.errors import GalleryBusy
    from tests.support.locks import held_elsewhere

    gallery.add("ada", unit_vectors(2), image_sha256s=shas(2))
    with held_elsewhere(gallery._lock), pytest.raises(GalleryBusy):
        gallery.search(unit_vectors(1), top_k=1, wait=False)
    assert gallery.search(unit_vectors(1), top_k=1, wait=False)[0][0].identity == "ada"
