"""Records: decoding with rotation, and rotated copies of classes as new classes."""

import numpy as np
import pytest
from PIL import Image

from training.data.records import Record, open_image, with_rotated_classes


def test_open_image_turns_by_record_rotate(tmp_path):
    arr = np.zeros((4, 6), dtype=np.uint8)
    arr[0, 0] = 255  # top-left corner lit
    Image.fromarray(arr).save(tmp_path / "a.png")
    turned = np.asarray(open_image(Record(str(tmp_path / "a.png"), "a", rotate=90)))
    assert turned.shape == (6, 4)  # expand=True keeps every pixel
    assert turned[-1, 0] == 255  # counter-clockwise: top-left goes to bottom-left


def test_with_rotated_classes_adds_three_new_classes_per_class():
    records = [Record("x.png", "Greek/c1", "Greek"), Record("y.png", "Greek/c2", "Greek")]
    out = with_rotated_classes(records)
    assert len(out) == 8 and out[:2] == records
    assert {r.label for r in out} == {
        f"Greek/c{i}{s}" for i in (1, 2) for s in ("", "@rot90", "@rot180", "@rot270")
    }
    assert {r.rotate for r in out if r.label.endswith("@rot180")} == {180}


def test_with_rotated_classes_rejects_odd_angles():
    with pytest.raises(ValueError, match="90, 180 or 270"):
        with_rotated_classes([Record("x.png", "a")], angles=(45,))
