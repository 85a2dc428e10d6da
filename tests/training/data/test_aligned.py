"""Face chips: training's dataset and the service's decoding give the same input tensor for the same file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.imaging import Upload, prepare_images
from modelcard import load_card
from training.data.dataset import ImageDataset
from training.data.records import Record

pytest.importorskip("dlib", reason="dlib-bin is not installed")

MODELS = Path(__file__).resolve().parents[3] / "models"
PHOTOS = Path(__file__).resolve().parents[2] / "data" / "faces"


@pytest.mark.skipif(not (MODELS / "faces.json").is_file(), reason="the faces model is not committed")
@pytest.mark.parametrize("name", ["obama.jpg", "group.jpg"])
def test_training_and_service_cut_the_same_face_chip(name):
    from modelcard.align import FaceAligner, find_landmarks_file

    spec = load_card(MODELS / "faces.json", verify_onnx=False).input
    path = PHOTOS / name
    trained = ImageDataset([Record(source=str(path), label="x", group="g")], spec)[0][0].numpy()
    aligner = FaceAligner(spec.align, find_landmarks_file(spec.align, MODELS))
    served = prepare_images([Upload(name, path.read_bytes())], spec, max_pixels=10**8, aligner=aligner).batch[
        0
    ]
    np.testing.assert_allclose(trained, served, atol=1e-6)
