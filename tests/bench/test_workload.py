"""Payloads and the pre-encoded requests built from them."""

import pytest

from bench.payloads import folder_images, synthetic_images
from bench.workload import enroll_requests, identify_requests, verify_requests

IMAGES = synthetic_images(identities=3, per_identity=3, enroll_per_identity=2, size=16)


def test_synthetic_images_split_enroll_and_probes_per_identity():
    assert list(IMAGES.enroll) == ["synthetic-0000", "synthetic-0001", "synthetic-0002"]
    assert all(len(group) == 2 for group in IMAGES.enroll.values())
    assert [p.identity for p in IMAGES.probes] == list(IMAGES.enroll)
    assert all(img.data[:2] == b"\xff\xd8" for img in IMAGES.all_images)  # JPEG


def test_synthetic_images_need_a_probe_per_identity():
    with pytest.raises(ValueError, match="keeps a probe"):
        synthetic_images(identities=1, per_identity=2, enroll_per_identity=2)


def test_folder_images_takes_class_folders_with_enough_files(tmp_path):
    for name, count in (("ann", 3), ("bob", 1), ("cid", 3)):
        (tmp_path / name).mkdir()
        for i in range(count):
            (tmp_path / name / f"{i}.jpg").write_bytes(IMAGES.probes[0].data)
    images = folder_images(tmp_path, identities=2, per_identity=3, enroll_per_identity=2)
    assert list(images.enroll) == ["ann", "cid"] and [p.filename for p in images.probes] == ["2.jpg", "2.jpg"]


def test_folder_images_too_few_classes_raises_value_error(tmp_path):
    with pytest.raises(ValueError, match="only 0 class folders"):
        folder_images(tmp_path, identities=1, per_identity=2, enroll_per_identity=1)


def test_identify_requests_one_multipart_body_per_probe():
    requests = identify_requests(IMAGES)
    assert len(requests) == 3 and all(r.path == "/identify" and r.images == 1 for r in requests)
    assert requests[0].content_type.startswith("multipart/form-data; boundary=")
    assert b'name="gallery"' in requests[0].body and IMAGES.probes[0].data in requests[0].body


def test_verify_requests_alternate_same_and_other_identity():
    requests = verify_requests(IMAGES, model="tiny")
    assert len(requests) == 6 and all(r.images == 2 for r in requests)


def test_enroll_requests_carry_per_call_images_under_new_names():
    requests = enroll_requests(IMAGES, per_call=4, calls=3)
    assert [r.images for r in requests] == [4, 4, 4]
    assert b"bench-enroll-0002" in requests[2].body
