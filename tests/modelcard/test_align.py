"""The card's face alignment stage: its spec round trip, the pure size rules, and alignment of real photos,
a crop, images without a face and a photo of several faces."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from modelcard import AlignSpec, CardError, ModelCard
from modelcard.align import area, detection_scale, upsample_steps

MODELS = Path(__file__).resolve().parents[2] / "models"
PHOTOS = Path(__file__).resolve().parents[1] / "data"
SPEC = AlignSpec(landmarks="faces.landmarks.dat", landmarks_sha256="ab" * 32)


def aligned_card(**align) -> dict:
    return {
        "name": "faces",
        "onnx_sha256": "0" * 64,
        "input": {
            "height": 150,
            "width": 150,
            "channels": 3,
            "mean": [0.5] * 3,
            "std": [1.0] * 3,
            "align": {
                "kind": "face5",
                "landmarks": "faces.landmarks.dat",
                "landmarks_sha256": "ab" * 32,
                **align,
            },
        },
        "embedding_dim": 128,
        "metric": "l2",
        "threshold": {"value": 0.4},
    }


def test_card_with_alignment_round_trips_through_json():
    card = ModelCard.from_dict(aligned_card(padding=0.3))
    again = ModelCard.from_dict(json.loads(json.dumps(card.to_dict())))
    assert again == card and again.input.align == AlignSpec(**{**SPEC.__dict__, "padding": 0.3})


@pytest.mark.parametrize(
    ("change", "match"),
    [({"kind": "face68"}, "kind"), ({"chip": 16}, "chip"), ({"landmarks_sha256": ""}, "landmarks")],
)
def test_card_refuses_a_bad_alignment_spec(change, match):
    with pytest.raises(CardError, match=match):
        ModelCard.from_dict(aligned_card(**change))


def test_card_refuses_an_aligned_input_other_than_the_chip():
    data = aligned_card()
    data["input"]["height"] = data["input"]["width"] = 112
    with pytest.raises(CardError, match="face chip"):
        ModelCard.from_dict(data)


@pytest.mark.parametrize(
    ("size", "steps"), [((64, 64), 2), ((84, 96), 2), ((150, 140), 1), ((200, 300), 1), ((256, 900), 0)]
)
def test_upsample_steps_bring_the_short_side_towards_the_minimum(size, steps):
    assert upsample_steps(size, SPEC) == steps


def test_detection_scale_shrinks_only_large_images():
    assert detection_scale((640, 480), SPEC) == 1.0 and detection_scale((1920, 1280), SPEC) == pytest.approx(
        1 / 3
    )


def test_area_of_an_empty_box_is_zero():
    assert area((10, 10, 5, 20)) == 0 and area((0, 0, 10, 20)) == 200


@pytest.fixture(scope="module")
def aligner():
    pytest.importorskip("dlib", reason="dlib-bin is not installed")
    from modelcard import load_card
    from modelcard.align import FaceAligner, find_landmarks_file

    if not (MODELS / "faces.json").is_file():
        pytest.skip("the faces model is not committed")
    spec = load_card(MODELS / "faces.json", verify_onnx=False).input.align
    return FaceAligner(spec, find_landmarks_file(spec, MODELS))


def test_align_photo_finds_one_face_and_cuts_the_chip(aligner):
    face = aligner.align(Image.open(PHOTOS / "faces" / "obama.jpg"))
    assert face.detected and face.faces == 1 and face.chip.size == (150, 150) and face.chip.mode == "RGB"
    assert area(face.box) > 80 * 80


def test_align_group_photo_takes_the_largest_face(aligner):
    img = Image.open(PHOTOS / "faces" / "group.jpg")
    face = aligner.align(img)
    boxes = aligner.detect(np.asarray(img.convert("RGB")))
    assert face.faces == len(boxes) == 3 and area(face.box) == max(area(b) for b in boxes)


def test_align_tight_crop_falls_back_to_landmarks_on_the_crop(aligner):
    photo = Image.open(PHOTOS / "faces" / "obama.jpg")
    left, top, right, bottom = aligner.align(photo).box
    crop = photo.crop((left + 12, top + 12, right - 12, bottom - 4)).resize((64, 64))
    face = aligner.align(crop)
    assert not face.detected and face.faces == 0 and face.box == (0, 0, 63, 63)


def test_align_large_photo_without_a_face_raises_no_face(aligner):
    from modelcard.align import NoFace

    with pytest.raises(NoFace, match="no face"):
        aligner.align(Image.open(PHOTOS / "coffee.jpg"))


def test_align_plain_crop_fails_the_face_check_unless_not_strict(aligner):
    from modelcard.align import NoFace

    wall = Image.fromarray(np.full((80, 80), 128, dtype=np.uint8))
    with pytest.raises(NoFace, match="does not look like a face"):
        aligner.align(wall)
    assert aligner.align(wall, strict=False).chip.size == (150, 150)


def test_find_landmarks_file_refuses_a_file_whose_sha256_differs(tmp_path):
    from modelcard.align import find_landmarks_file

    (tmp_path / "faces.landmarks.dat").write_bytes(b"not the file")
    spec = AlignSpec(landmarks="faces.landmarks.dat", landmarks_sha256="cd" * 32)
    with pytest.raises(CardError, match="no landmarks file"):
        find_landmarks_file(spec, tmp_path)
