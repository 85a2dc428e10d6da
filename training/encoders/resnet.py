"""A small ResNet (BasicBlocks, 4 stages of base_width x 1, 2, 4, 8 channels), global average (or
generalized-mean) pooling and a linear embedding layer, optionally followed by a BatchNorm "neck". Suits inputs from 28x28 to 128x128.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from training.encoders.base import EmbeddingNet, conv_bn_relu, pooled_head


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with an identity (or 1x1 conv-BN) shortcut, then ReLU."""

    def __init__(self, c_in: int, c_out: int, *, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            *conv_bn_relu(c_in, c_out, 3, stride=stride, padding=1),
            nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
        )
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out)
            )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.body(x) + self.shortcut(x))


def resnet_small(
    *,
    in_channels: int,
    height: int,
    width: int,
    embedding_dim: int,
    base_width: int = 32,
    blocks: Sequence[int] = (1, 1, 1, 1),
    stem_stride: int | None = None,
    bn_neck: bool = False,
    pool: str = "avg",
) -> EmbeddingNet:
    """`blocks` per stage; stages 2-4 halve the map. `stem_stride=None` picks 2 for inputs of 64 px and
    up, else 1 (the chosen value is stored in `config`); 4 is a stride-2 conv then a 2x2 max-pool, for
    large inputs whose small details must survive the downsampling. `pool` is "avg" (global average), "gem"
    (generalized mean with a learned exponent: small local details weigh more, e.g. surface defects) or "grid2"
    (each quarter of the map averaged)."""
    if base_width < 1 or len(blocks) != 4 or any(int(b) < 1 for b in blocks):
        raise ValueError(f"need base_width >= 1 and 4 stages of >= 1 block, got {base_width}, {list(blocks)}")
    if stem_stride is None:
        stem_stride = 2 if min(height, width) >= 64 else 1
    if stem_stride not in (1, 2, 4):
        raise ValueError(f"stem_stride must be 1, 2 or 4, got {stem_stride}")
    layers: list[nn.Module] = conv_bn_relu(in_channels, base_width, 3, stride=min(stem_stride, 2), padding=1)
    if stem_stride == 4:
        layers.append(nn.MaxPool2d(2))
    c_in = base_width
    for stage, n_blocks in enumerate(blocks):
        c_out = base_width * 2**stage
        for b in range(int(n_blocks)):
            layers.append(BasicBlock(c_in, c_out, stride=2 if stage > 0 and b == 0 else 1))
            c_in = c_out
    trunk = nn.Sequential(*layers)
    sizes = dict(in_channels=in_channels, height=height, width=width, embedding_dim=embedding_dim)
    head = pooled_head(pool, trunk, channels=c_in, **sizes)
    if bn_neck:
        head.append(nn.BatchNorm1d(embedding_dim))
    config = dict(
        name="resnet-small",
        in_channels=in_channels,
        height=height,
        width=width,
        embedding_dim=embedding_dim,
        base_width=int(base_width),
        blocks=[int(b) for b in blocks],
        stem_stride=int(stem_stride),
        bn_neck=bool(bn_neck),
        pool=pool,
    )
    return EmbeddingNet(trunk, nn.Sequential(*head), config=config)
