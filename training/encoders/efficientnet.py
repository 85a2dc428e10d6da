"""EfficientNet-Lite trunks (`efficientnet-lite-pytorch`'s port of Google's TF models) as embedding encoders.

The package declares the architecture the packaged ImageNet weights were converted for; the trunk keeps its
module names (under `.net`), so those state dicts load into it key for key, less the classifier (`_fc`). EfficientNet-Lite has no
squeeze-excitation and uses ReLU6, and TF's "same" padding is fixed here for the configured input size, so
the ONNX graph has static shapes. The Lite models expect RGB scaled as (x - 127) / 128 (x in 0..255).
"""

from __future__ import annotations

from torch import Tensor, nn

from training.encoders.base import EmbeddingNet, pooled_head

LITE_VARIANTS = ("efficientnet-lite0", "efficientnet-lite2")
LAST_CHANNELS = 1280  # the head convolution's width (fixed for every Lite variant)
CLASSIFIER_PREFIX = "_fc."  # the ImageNet classifier's keys, which the trunk does not have


class LiteTrunk(nn.Module):
    """Stem, MBConv blocks and head convolution of an EfficientNet-Lite: (B, 3, H, W) -> (B, 1280, h, w).

    `classes` > 0 keeps the ImageNet classifier (`logits`), for checking weights against ImageNet labels.
    """

    def __init__(
        self, variant: str, *, height: int, width: int, in_channels: int = 3, classes: int = 0
    ) -> None:
        super().__init__()
        if variant not in LITE_VARIANTS:
            raise ValueError(f"unknown EfficientNet-Lite variant {variant!r}; choose one of {LITE_VARIANTS}")
        from efficientnet_lite_pytorch import EfficientNet

        net = EfficientNet.from_name(
            variant, in_channels=in_channels, image_size=(height, width), num_classes=max(classes, 1)
        )
        if not classes:
            del net._fc
        self.net = net

    def forward(self, x: Tensor) -> Tensor:
        return self.net.extract_features(x)

    def logits(self, x: Tensor) -> Tensor:
        return self.net._fc(self.net._avg_pooling(self.forward(x)).flatten(1))


def without_classifier(state: dict) -> dict:
    """A Lite state dict less the ImageNet classifier's entries: what the embedding trunk holds."""
    return {k: v for k, v in state.items() if not k.startswith(CLASSIFIER_PREFIX)}


def efficientnet_lite(
    variant: str, *, in_channels: int, height: int, width: int, embedding_dim: int, pool: str = "avg"
) -> EmbeddingNet:
    """Embedding encoder: the Lite trunk, `pool` ("avg", "gem" or "grid2": `training.encoders.base.pooling`)
    and a Linear projection. ImageNet weights need in_channels = 3: grey images go in as three equal channels."""
    trunk = LiteTrunk(variant, in_channels=in_channels, height=height, width=width)
    sizes = dict(in_channels=in_channels, height=height, width=width, embedding_dim=embedding_dim)
    head = nn.Sequential(*pooled_head(pool, trunk, channels=LAST_CHANNELS, **sizes))
    config = dict(
        name=variant, in_channels=in_channels, height=height, width=width, embedding_dim=embedding_dim
    )
    if pool != "avg":  # configs written before the option rebuild as they were
        config["pool"] = pool
    return EmbeddingNet(trunk, head, config=config)


def efficientnet_lite0(
    *, in_channels: int, height: int, width: int, embedding_dim: int, pool: str = "avg"
) -> EmbeddingNet:
    return efficientnet_lite(
        "efficientnet-lite0",
        in_channels=in_channels,
        height=height,
        width=width,
        embedding_dim=embedding_dim,
        pool=pool,
    )


def efficientnet_lite2(
    *, in_channels: int, height: int, width: int, embedding_dim: int, pool: str = "avg"
) -> EmbeddingNet:
    return efficientnet_lite(
        "efficientnet-lite2",
        in_channels=in_channels,
        height=height,
        width=width,
        embedding_dim=embedding_dim,
        pool=pool,
    )
