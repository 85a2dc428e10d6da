"""WiSE-FT as the pipeline exports it, on MobileNetV2 with its real ImageNet trunk: the trunk interpolated, the
projection head (which the ImageNet weights lack) kept as fine-tuned, batch-norm statistics as configured."""

import dataclasses

import numpy as np
import pytest
import torch
from PIL import Image

from training.config import InputConfig, ModelConfig, TrainConfig, apply_overrides
from training.data.dataset import ImageDataset
from training.data.records import Record
from training.data.splits import Split
from training.encoders.pretrained import IMAGENET_MEAN, IMAGENET_STD
from training.pipeline import pretrained_start, with_pretrained_ensemble
from training.train import build_model, input_spec

CFG = TrainConfig(
    input=InputConfig(height=32, width=32, channels=3, mean=IMAGENET_MEAN, std=IMAGENET_STD),
    model=ModelConfig(encoder="mobilenet-v2", embedding_dim=8, pretrained="imagenet"),
)


@pytest.fixture(scope="module")
def split(tmp_path_factory) -> Split:
    root, rng = tmp_path_factory.mktemp("images"), np.random.default_rng(0)
    records = []
    for n in range(12):
        path = root / f"{n}.png"
        Image.fromarray(rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8)).save(path)
        records.append(Record(str(path), label=f"c{n % 3}"))
    return Split(train=records, val=[], test=[])


def _finetuned() -> torch.nn.Module:
    """The pretrained start with every floating entry moved, as training would move it."""
    torch.manual_seed(0)
    model = build_model(CFG)
    with torch.no_grad():
        for value in model.state_dict().values():
            if value.is_floating_point():
                value.add_(torch.rand_like(value) * 0.1)
    return model


def _wise(split: Split, batchnorm: str) -> tuple[torch.nn.Module, torch.nn.Module]:
    cfg = apply_overrides(CFG, ["optim.wise_alpha=0.25", f"optim.wise_batchnorm={batchnorm}"])
    tuned = _finetuned()
    return tuned, with_pretrained_ensemble(cfg, _finetuned(), split)


def test_pretrained_start_sets_the_trunk_not_the_head():
    model, loaded = pretrained_start(CFG)
    assert loaded and all(k.startswith("trunk.") for k in loaded)
    assert torch.isnan(model.head[2].weight).all()


@pytest.mark.parametrize("batchnorm", ["interpolate", "finetuned", "recompute"])
def test_wise_interpolates_the_trunk_and_keeps_the_head(split, batchnorm):
    tuned, mixed = _wise(split, batchnorm)
    imagenet = build_model(CFG)
    conv = "0.0.weight"
    expected = torch.lerp(imagenet.trunk.state_dict()[conv], tuned.trunk.state_dict()[conv], 0.25)
    assert torch.allclose(mixed.trunk.state_dict()[conv], expected)
    assert torch.equal(mixed.head[2].weight, tuned.head[2].weight)
    assert not mixed.training


def test_wise_batchnorm_interpolated_or_kept(split):
    tuned, mixed = _wise(split, "interpolate")
    imagenet = build_model(CFG)
    key = "0.1.running_var"
    expected = torch.lerp(imagenet.trunk.state_dict()[key], tuned.trunk.state_dict()[key], 0.25)
    assert torch.allclose(mixed.trunk.state_dict()[key], expected)
    tuned, kept = _wise(split, "finetuned")
    assert torch.equal(kept.trunk.state_dict()[key], tuned.trunk.state_dict()[key])


def test_wise_batchnorm_recomputed_on_the_training_images(split):
    _, mixed = _wise(split, "recompute")
    images = torch.stack([x for x, _ in ImageDataset(split.train, input_spec(CFG))])
    with torch.no_grad():
        first = mixed.trunk[0][0](images)  # the stem convolution, before its batch norm
    assert torch.allclose(mixed.trunk[0][1].running_mean, first.mean(dim=(0, 2, 3)), atol=1e-5)


def test_wise_with_no_alpha_returns_the_model_untouched(split):
    model = _finetuned()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    out = with_pretrained_ensemble(dataclasses.replace(CFG), model, split)
    assert out is model and all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
