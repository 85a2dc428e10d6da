"""MobileNetV2 (Sandler et al., CVPR 2018) in torchvision's exact module layout, so that torchvision's ImageNet
state dict loads key for key, and the embedding encoder built on its `features` trunk.
"""

from __future__ import annotations

from torch import Tensor, nn

from training.encoders.base import EmbeddingNet, pooled_head

# (expansion t, output channels c, repeats n, first stride s) of each bottleneck stage, as in the paper.
STAGES = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
STEM_CHANNELS = 32
LAST_CHANNELS = 1280


def conv_bn_relu6(c_in: int, c_out: int, kernel: int, *, stride: int = 1, groups: int = 1) -> nn.Sequential:
    """Conv (no bias, "same" padding) -> BatchNorm -> ReLU6: torchvision's Conv2dNormActivation (keys .0, .1)."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=(kernel - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU6(inplace=True),
    )


class InvertedResidual(nn.Module):
    """1x1 expansion (unless t = 1), 3x3 depthwise, linear 1x1 projection; identity shortcut at stride 1 when
    the channels match. Sub-modules sit in `conv` as in torchvision."""

    def __init__(self, c_in: int, c_out: int, *, stride: int, expand: int) -> None:
        super().__init__()
        hidden = c_in * expand
        layers: list[nn.Module] = [conv_bn_relu6(c_in, hidden, 1)] if expand != 1 else []
        layers += [
            conv_bn_relu6(hidden, hidden, 3, stride=stride, groups=hidden),
            nn.Conv2d(hidden, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out),
        ]
        self.conv = nn.Sequential(*layers)
        self.use_shortcut = stride == 1 and c_in == c_out

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv(x) if self.use_shortcut else self.conv(x)


def mobilenet_v2_features(in_channels: int = 3) -> nn.Sequential:
    """The convolutional trunk, (B, in_channels, H, W) -> (B, 1280, H/32, W/32): torchvision's `features`."""
    layers: list[nn.Module] = [conv_bn_relu6(in_channels, STEM_CHANNELS, 3, stride=2)]
    c_in = STEM_CHANNELS
    for expand, c_out, repeats, stride in STAGES:
        for i in range(repeats):
            layers.append(InvertedResidual(c_in, c_out, stride=stride if i == 0 else 1, expand=expand))
            c_in = c_out
    layers.append(conv_bn_relu6(c_in, LAST_CHANNELS, 1))
    return nn.Sequential(*layers)


class MobileNetV2(nn.Module):
    """The ImageNet classifier: features, global average pool, dropout, Linear(1280, num_classes) logits."""

    def __init__(self, num_classes: int = 1000, dropout: float = 0.2) -> None:
        super().__init__()
        self.features = mobilenet_v2_features()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(LAST_CHANNELS, num_classes))

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.pool(self.features(x)).flatten(1))


def mobilenet_v2(
    *, in_channels: int, height: int, width: int, embedding_dim: int, pool: str = "avg"
) -> EmbeddingNet:
    """Embedding encoder: the MobileNetV2 trunk, `pool` ("avg"; "gem", the generalized mean, where a small detail
    such as a pore or a crack weighs more; "grid2", each quarter of the map averaged) and a Linear projection.

    The trunk's map is H/32 x W/32 (rounded up). ImageNet weights (`training.encoders.pretrained`, through
    `ModelConfig.pretrained`) need in_channels = 3: grey images go in as three equal channels.
    """
    trunk = mobilenet_v2_features(in_channels)
    sizes = dict(in_channels=in_channels, height=height, width=width, embedding_dim=embedding_dim)
    head = nn.Sequential(*pooled_head(pool, trunk, channels=LAST_CHANNELS, **sizes))
    config = dict(
        name="mobilenet-v2", in_channels=in_channels, height=height, width=width, embedding_dim=embedding_dim
    )
    if pool != "avg":  # configs written before the option rebuild as they were
        config["pool"] = pool
    return EmbeddingNet(trunk, head, config=config)
