"""At start-up, migrations left running are resumed or rolled back gallery by gallery: one gallery that cannot
be checked (deleted meanwhile, a storage failure) is logged and the others are still recovered; the start
goes on."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np

from app.migration import Migrations
from gallery import migration
from gallery.registry import GalleryRegistry
from gallery.types import Enrollment, KeptImage

SHA_A, SHA_B = "a" * 64, "b" * 64


class DeletedMeanwhile(GalleryRegistry):
    """Lists one more gallery than it holds: the one another request deleted between the listing and the look."""

    def list(self):
        infos = super().list()
        return [dataclasses.replace(infos[0], name="aaa-gone"), *infos]


async def test_start_recovers_the_other_galleries_when_one_cannot_be_checked(tmp_path, caplog):
    registry = DeletedMeanwhile(tmp_path)
    gallery = registry.create("toy", model="toy", model_sha256=SHA_A, dim=4)
    image = KeptImage(b"png", "image/png", 1, 1, False, b"jpg", "image/jpeg")
    vectors = np.eye(4, dtype=np.float32)[:2]
    gallery.add_many([Enrollment("ada", vectors, ("0" * 64, "1" * 64), images=(image, image))])
    migration.begin(gallery.store, model="toy-b", model_sha256=SHA_B, dim=4, drop_failed=False)
    runtime = SimpleNamespace(registry=registry, models=SimpleNamespace(encoders={}))  # toy-b is not loaded
    try:
        await Migrations(runtime).start()
        assert migration.state(gallery.store).state == "rolled_back"
        assert "aaa-gone" in caplog.text and "could not be checked" in caplog.text
    finally:
        registry.close()
