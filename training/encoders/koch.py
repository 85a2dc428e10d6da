"""Koch et al. 2015's Siamese convnet (64@10x10, 128@7x7, 128@4x4, 256@4x4, fc), with BatchNorm and a
channel multiplier, pooled to a fixed grid before the fc layer so any input from about 24x24 up works.
"""

from __future__ import annotations

from torch import nn

from training.encoders.base import EmbeddingNet, GridPool, conv_bn_relu, feature_shape

CHANNELS = (64, 128, 128, 256)
KERNELS = (10, 7, 4, 4)


def koch(
    *, in_channels: int, height: int, width: int, embedding_dim: int, width_mult: float = 0.5, pool: int = 4
) -> EmbeddingNet:
    """Channels are Koch's times `width_mult` (0.5 by default: 32-64-64-128, CPU-trainable); the last
    map is average-pooled to at most `pool` x `pool` cells, then a linear layer gives the embedding.

    Padding (k - 1) // 2 keeps the maps from collapsing: 105x105 ends at 11x11, 64x64 at 6x6, 28x28 at 1x1.
    """
    if width_mult <= 0:
        raise ValueError(f"width_mult must be positive, got {width_mult}")
    if pool < 1:
        raise ValueError(f"pool must be at least 1, got {pool}")
    channels = [max(8, round(c * width_mult)) for c in CHANNELS]
    layers: list[nn.Module] = []
    c_in = in_channels
    for i, (c_out, k) in enumerate(zip(channels, KERNELS, strict=True)):
        layers += conv_bn_relu(c_in, c_out, k, padding=(k - 1) // 2)
        if i < len(channels) - 1:
            layers.append(nn.MaxPool2d(2))
        c_in = c_out
    trunk = nn.Sequential(*layers)
    c, h, w = feature_shape(trunk, in_channels=in_channels, height=height, width=width)
    out_hw = (min(pool, h), min(pool, w))
    head = nn.Sequential(GridPool((h, w), out_hw), nn.Linear(c * out_hw[0] * out_hw[1], embedding_dim))
    config = dict(
        name="koch",
        in_channels=in_channels,
        height=height,
        width=width,
        embedding_dim=embedding_dim,
        width_mult=float(width_mult),
        pool=int(pool),
    )
    return EmbeddingNet(trunk, head, config=config)
