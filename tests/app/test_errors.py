"""Every named error has its own HTTP status: a new error class without one fails here, not as a 500."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import app
import gallery
from app.errors import GALLERY_STATUS, ServiceError, status_of
from gallery.errors import GalleryError, StorageFull

EXPECTED_500 = {"service_error", "inference_failed", "gallery_error", "store_corrupt"}  # faults of ours


def _all_subclasses(base: type) -> list[type]:
    """`base` and every subclass defined anywhere in the service's packages."""
    for package in (app, gallery):
        for module in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            importlib.import_module(module.name)
    found, stack = [], [base]
    while stack:
        cls = stack.pop()
        found.append(cls)
        stack.extend(cls.__subclasses__())
    return found


@pytest.mark.parametrize("cls", _all_subclasses(ServiceError), ids=lambda c: c.__name__)
def test_every_service_error_declares_its_own_status(cls):
    assert "status" in vars(cls), f"{cls.__name__} must declare `status` (an HTTP status)"
    assert "code" in vars(cls), f"{cls.__name__} must declare its stable `code`"
    assert 400 <= cls.status < 600 and (cls.status != 500 or cls.code in EXPECTED_500)


@pytest.mark.parametrize("cls", _all_subclasses(GalleryError), ids=lambda c: c.__name__)
def test_every_gallery_error_has_a_status_of_its_own_in_the_map(cls):
    assert cls in GALLERY_STATUS, f"add {cls.__name__} to app.errors.GALLERY_STATUS"
    assert "code" in vars(cls), f"{cls.__name__} must declare its stable `code`"
    status = GALLERY_STATUS[cls]
    assert 400 <= status < 600 and (status != 500 or cls.code in EXPECTED_500)


def test_status_of_a_gallery_error_subclass_is_its_nearest_mapped_class():
    class ShelfFull(StorageFull):
        code = "shelf_full"

    assert status_of(StorageFull("full")) == 507 and status_of(ShelfFull("full")) == 507
