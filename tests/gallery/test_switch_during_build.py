"""A background index build that began before a model switch read the old model's vectors: it must not
replace the switched index (same ids, so an id check alone would take it)."""

from __future__ import annotations

import threading

import gallery.gallery as gallery_module
from gallery import migration
from gallery.types import Enrollment, KeptImage

NEW_SHA = "b" * 64


def _image() -> KeptImage:
    return KeptImage(b"png", "image/png", 1, 1, False, b"jpg", "image/jpeg")


def test_build_begun_before_a_switch_is_discarded(gallery, unit_vectors, shas, monkeypatch):
    old = unit_vectors(4, seed=0)
    ids = gallery.add_many(
        [Enrollment("ada", old, tuple(shas(4)), images=tuple(_image() for _ in range(4)))]
    )[0]
    new = unit_vectors(4, seed=1)
    migration.begin(
        gallery.store, model="faces-v2", model_sha256=NEW_SHA, dim=new.shape[1], drop_failed=False
    )
    migration.stage(gallery.store, ids, new, [], model_sha256=NEW_SHA)

    built, go_on = threading.Event(), threading.Event()
    real_build = gallery_module.build_from_store

    def slow_build(store, *, config):  # the real build, then held until the switch has happened
        index = real_build(store, config=config)
        built.set()
        go_on.wait(10)
        return index

    monkeypatch.setattr(gallery_module, "build_from_store", slow_build)
    result: list[bool] = []
    builder = threading.Thread(target=lambda: result.append(gallery._build_once()))
    builder.start()
    assert built.wait(10)  # the build holds the old vectors
    monkeypatch.setattr(gallery_module, "build_from_store", real_build)
    assert gallery.switch_model() == []
    go_on.set()
    builder.join(10)
    assert result == [True]  # discarded, another build wanted
    found = gallery.search(new[:1], top_k=1)[0][0]
    assert found.distance < 1e-5  # the index holds the new model's vectors, not the old


def test_vectors_of_another_models_width_are_refused_as_model_mismatch(gallery, unit_vectors, shas):
    import pytest

    from gallery.errors import ModelMismatch

    other = unit_vectors(1, dim=gallery.meta.dim + 4)
    with pytest.raises(ModelMismatch):
        gallery.search(other, top_k=1, model_sha256=NEW_SHA)
    with pytest.raises(ModelMismatch):
        gallery.add_many([Enrollment("bob", other, tuple(shas(1)))], model_sha256=NEW_SHA)


def test_a_step_where_every_reference_failed_records_the_failures(gallery, unit_vectors, shas):
    ids = gallery.add_many(
        [
            Enrollment(
                "wall", unit_vectors(2, seed=0), tuple(shas(2)), images=tuple(_image() for _ in range(2))
            )
        ]
    )[0]
    migration.begin(gallery.store, model="faces-v2", model_sha256=NEW_SHA, dim=8, drop_failed=True)
    failed = [(i, "no_face", "no face was found") for i in ids]

    migration.stage(gallery.store, [], unit_vectors(0, dim=8), failed, model_sha256=NEW_SHA)

    assert [f.reference_id for f in migration.failures(gallery.store)] == list(ids)
    assert migration.state(gallery.store).failed == 2
