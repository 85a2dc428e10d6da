"""Image encoders that map (B, C, H, W) float32 to (B, embedding_dim) L2-normalized embeddings.

`build_encoder` builds one by name; every network's `.config` rebuilds it: `build_encoder(**model.config)`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from torch import nn

from training.encoders.base import EmbeddingNet
from training.encoders.dlib_resnet import dlib_resnet
from training.encoders.efficientnet import efficientnet_lite0, efficientnet_lite2
from training.encoders.koch import koch
from training.encoders.mobilenet import mobilenet_v2
from training.encoders.notebook import notebook_cnn
from training.encoders.resnet import resnet_small

ENCODERS = (
    "notebook-cnn",
    "koch",
    "resnet-small",
    "mobilenet-v2",
    "efficientnet-lite0",
    "efficientnet-lite2",
    "dlib-resnet",
)
MAX_PARAMETERS = 8_000_000  # float32 weights: keeps the exported ONNX file under 32 MB

_BUILDERS: dict[str, Callable[..., EmbeddingNet]] = {
    "notebook-cnn": notebook_cnn,
    "koch": koch,
    "resnet-small": resnet_small,
    "mobilenet-v2": mobilenet_v2,
    "efficientnet-lite0": efficientnet_lite0,
    "efficientnet-lite2": efficientnet_lite2,
    "dlib-resnet": dlib_resnet,
}

__all__ = ["ENCODERS", "MAX_PARAMETERS", "EmbeddingNet", "build_encoder", "count_parameters"]


def build_encoder(
    name: str, *, in_channels: int, height: int, width: int, embedding_dim: int = 128, **kwargs: Any
) -> nn.Module:
    """Build encoder `name` for inputs of in_channels x height x width; extra kwargs are the encoder's own
    (koch: width_mult, pool; resnet-small: base_width, blocks, stem_stride, bn_neck)."""
    if name not in _BUILDERS:
        raise ValueError(f"unknown encoder {name!r}; choose one of {ENCODERS}")
    sizes = {"in_channels": in_channels, "height": height, "width": width, "embedding_dim": embedding_dim}
    if any(int(v) != v or v < 1 for v in sizes.values()):
        raise ValueError(
            f"in_channels, height, width and embedding_dim must be positive integers, got {sizes}"
        )
    builder = _BUILDERS[name]
    try:
        inspect.signature(builder).bind(**sizes, **kwargs)
    except TypeError as exc:
        raise ValueError(f"bad options for encoder {name!r}: {exc}") from exc
    model = builder(**{k: int(v) for k, v in sizes.items()}, **kwargs)
    if count_parameters(model) > MAX_PARAMETERS:
        raise ValueError(
            f"{name} at {height}x{width} has {count_parameters(model):,} parameters, over {MAX_PARAMETERS:,} "
            "(the ONNX file would pass 32 MB); use a smaller input or a narrower encoder"
        )
    return model


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
