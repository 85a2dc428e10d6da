"""GalleryRegistry on a data dir: names, lifecycle, persistence, snapshots (used, reconciled, rebuilt)."""

import shutil

import numpy as np
import pytest

from gallery import GalleryRegistry
from gallery.errors import GalleryExists, GalleryNotFound, GalleryUnavailable, InvalidGalleryName
from gallery.sqlite import connect, migrate


def _results(gallery, queries) -> list[list[tuple[str, int, float]]]:
    return [
        [(c.identity, c.reference_id, round(c.distance, 5)) for c in row]
        for row in gallery.search(queries, top_k=3)
    ]


def _fill(gallery, unit_vectors, shas, *, identities: int = 20, per: int = 3, seed: int = 0) -> np.ndarray:
    vectors = unit_vectors(identities * per, seed=seed)
    for i in range(identities):
        gallery.add(f"person-{seed}-{i}", vectors[i * per : (i + 1) * per], image_sha256s=shas(per))
    return vectors


def _reopen(tmp_path, **options) -> GalleryRegistry:
    registry = GalleryRegistry(tmp_path, **options)
    registry.open()
    return registry


def test_create_get_list_contains_and_delete_remove_files(
    registry, model_sha, dim, tmp_path, unit_vectors, shas
):
    gallery = registry.create("faces", model="faces", model_sha256=model_sha, dim=dim, threshold=0.8)
    gallery.add("alice", unit_vectors(1), image_sha256s=shas(1))
    registry.create("defects", model="defects", model_sha256=model_sha, dim=dim)
    assert registry.get("faces") is gallery and "faces" in registry
    assert [(i.name, i.threshold, i.references) for i in registry.list()] == [
        ("defects", None, 0),
        ("faces", 0.8, 1),
    ]
    gallery.save_snapshot()
    registry.delete("faces")
    assert "faces" not in registry
    assert [p.name for p in (tmp_path / "galleries").iterdir() if p.name.startswith("faces")] == []
    with pytest.raises(GalleryNotFound):
        registry.get("faces")


@pytest.mark.parametrize("name", ["../x", "", "Faces", "-lead", "a" * 65, "sp ace", "x/y", "x.sqlite"])
def test_invalid_gallery_names_raise_invalid_gallery_name(registry, model_sha, dim, name):
    with pytest.raises(InvalidGalleryName) as caught:
        registry.create(name, model="faces", model_sha256=model_sha, dim=dim)
    assert caught.value.code == "invalid_gallery_name"
    with pytest.raises(InvalidGalleryName):
        registry.get(name)
    assert name not in registry


def test_duplicate_create_raises_gallery_exists(registry, gallery, model_sha, dim):
    with pytest.raises(GalleryExists):
        registry.create("faces", model="faces", model_sha256=model_sha, dim=dim)


def test_reopen_same_dir_gives_identical_results_from_the_snapshot(
    tmp_path, registry, gallery, unit_vectors, shas
):
    vectors = _fill(gallery, unit_vectors, shas)
    gallery.delete_reference(4)
    before, info = _results(gallery, vectors), gallery.info
    registry.close()
    reopened = _reopen(tmp_path)
    try:
        again = reopened.get("faces")
        assert again.index_source == "snapshot"
        assert again.info == info and _results(again, vectors) == before
    finally:
        reopened.close()


@pytest.mark.parametrize(
    "options", [{"snapshots": False}, {"ann_min_size": 10}], ids=["disabled", "other-kind"]
)
def test_reopen_when_snapshot_does_not_apply_rebuilds_same_results(
    tmp_path, registry, gallery, unit_vectors, shas, options
):
    vectors = _fill(gallery, unit_vectors, shas)
    before = _results(gallery, vectors)
    registry.close()
    reopened = _reopen(tmp_path, **options)
    try:
        assert reopened.get("faces").index_source == "rebuilt"
        assert _results(reopened.get("faces"), vectors) == before
    finally:
        reopened.close()


def test_snapshot_of_another_gallery_triggers_rebuild(
    tmp_path, registry, gallery, model_sha, dim, unit_vectors, shas
):
    vectors = _fill(gallery, unit_vectors, shas)
    other = registry.create("other", model="faces", model_sha256=model_sha, dim=dim)
    _fill(other, unit_vectors, shas, seed=1)
    before = _results(gallery, vectors)
    registry.close()
    directory = tmp_path / "galleries"
    for suffix in (".faiss", ".faiss.json"):
        shutil.copy(directory / f"other{suffix}", directory / f"faces{suffix}")
    reopened = _reopen(tmp_path)
    try:
        assert reopened.get("faces").index_source == "rebuilt"
        assert _results(reopened.get("faces"), vectors) == before
    finally:
        reopened.close()


@pytest.mark.parametrize("ann_min_size", [None, 10], ids=["flat", "hnsw"])
def test_stale_snapshot_after_a_crash_is_reconciled_with_the_store(
    tmp_path, unit_vectors, shas, dim, ann_min_size
):
    registry = _reopen(tmp_path, ann_min_size=ann_min_size)
    gallery = registry.create("faces", model="faces", model_sha256="a" * 64, dim=dim)
    vectors = _fill(gallery, unit_vectors, shas, identities=30)
    gallery.save_snapshot()
    saved = {p.name: p.read_bytes() for p in (tmp_path / "galleries").glob("faces.faiss*")}
    extra = _fill(gallery, unit_vectors, shas, identities=3, seed=7)
    gallery.delete_identity("person-0-1")
    gallery.delete_reference(1)
    queries = np.vstack([vectors, extra])
    before = _results(gallery, queries)
    registry.close()
    for name, data in saved.items():  # the crash: the close-time snapshot never happened
        (tmp_path / "galleries" / name).write_bytes(data)
    reopened = _reopen(tmp_path, ann_min_size=ann_min_size)
    try:
        assert reopened.get("faces").index_source == "reconciled"
        assert _results(reopened.get("faces"), queries) == before
    finally:
        reopened.close()


def _metaless(path) -> None:
    """Exactly what a create killed between its schema and its meta row used to leave: a WAL-mode file
    with every migration applied and no meta row."""
    conn = connect(path)
    migrate(conn)
    conn.close()


DAMAGED = {
    "zero-byte": lambda path: path.write_bytes(b""),
    "meta-less": _metaless,
    "garbage": lambda path: path.write_bytes(b"garbage" * 200),
}
REASONS = {"zero-byte": "is empty", "meta-less": "no gallery meta row", "garbage": "not a readable SQLite"}


@pytest.mark.parametrize("kind", sorted(DAMAGED))
def test_open_with_damaged_gallery_file_sets_it_aside_and_opens_the_others(
    tmp_path, registry, gallery, unit_vectors, shas, kind
):
    gallery.add("alice", unit_vectors(1), image_sha256s=shas(1))
    registry.close()
    DAMAGED[kind](tmp_path / "galleries" / "broken.sqlite")
    reopened = _reopen(tmp_path)
    try:
        assert reopened.get("faces").info.references == 1
        (entry,) = reopened.unavailable()
        assert (entry.name, entry.file) == ("broken", "broken.sqlite") and REASONS[kind] in entry.reason
        with pytest.raises(GalleryUnavailable, match="broken.sqlite"):
            reopened.get("broken")
        assert "broken" not in reopened and [i.name for i in reopened.list()] == ["faces"]
    finally:
        reopened.close()


def test_create_over_unavailable_gallery_raises_exists_until_it_is_deleted(tmp_path, model_sha, dim):
    (tmp_path / "galleries").mkdir()
    (tmp_path / "galleries" / "broken.sqlite").write_bytes(b"")
    registry = _reopen(tmp_path)
    try:
        with pytest.raises(GalleryExists, match="unavailable"):
            registry.create("broken", model="faces", model_sha256=model_sha, dim=dim)
        registry.delete("broken")
        assert registry.unavailable() == [] and not (tmp_path / "galleries" / "broken.sqlite").exists()
        assert registry.create("broken", model="faces", model_sha256=model_sha, dim=dim).info.references == 0
    finally:
        registry.close()


def test_registry_unknown_index_option_raises_value_error(tmp_path):
    with pytest.raises(ValueError, match="unknown index options"):
        GalleryRegistry(tmp_path, nlist=100)


def test_deleted_gallery_name_can_be_created_again_empty(
    registry, gallery, model_sha, dim, unit_vectors, shas
):
    gallery.add("alice", unit_vectors(1), image_sha256s=shas(1))
    registry.delete("faces")
    again = registry.create("faces", model="faces", model_sha256=model_sha, dim=dim)
    assert again.info.references == 0 and again.search(unit_vectors(1), top_k=1) == [[]]


def test_a_gallery_set_aside_for_a_storage_failure_is_tried_again_ever_later_up_to_five_minutes():
    from gallery.registry import retry_delay_s

    assert [retry_delay_s(n) for n in range(1, 9)] == [5, 10, 20, 40, 80, 160, 300, 300]
