"""dlib's ResNet face descriptor (`anet_type` of dlib's `dnn_face_recognition_ex.cpp`) declared in PyTorch.

A 29-conv ResNet on 150x150 RGB face chips, with per-channel affine layers where training had batch norm,
global average pooling and a 128-d linear layer without bias. dlib's quirks are kept so its weights give its
outputs: strided convolutions and pools have no padding, and a downsampling block adds its (smaller) conv
output to the 2x2 average-pooled input over the overlap, zero elsewhere (dlib's `add_prev`).
`load_dlib_layers` copies the layers read from dlib's `.dat` (training.pretrained.dlib_dat) in file order.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from training.encoders.base import EmbeddingNet

CHIP = 150
# (channels, blocks) per level, input side first; the first block of every level but the first downsamples.
LEVELS = ((32, 3), (64, 4), (128, 3), (256, 3), (256, 1))
# dlib's input_rgb_image layer: (pixel - mean) / 256 on 0-255 RGB, as a card's (x - mean) / std on 0-1.
DLIB_MEAN = (122.782 / 255, 117.001 / 255, 104.298 / 255)
DLIB_STD = (256 / 255,) * 3


class Affine(nn.Module):
    """Per-channel scale and shift (dlib's `affine` layer, a frozen batch norm)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(channels))
        self.shift = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.scale[None, :, None, None] + self.shift[None, :, None, None]


def add_overlap(a: Tensor, b: Tensor) -> Tensor:
    """dlib's `add_prev`: the sum over the larger of both shapes, each input zero-padded at the end."""
    size = [max(p, q) for p, q in zip(a.shape[1:], b.shape[1:], strict=True)]

    def pad(t: Tensor) -> Tensor:
        c, h, w = t.shape[1:]
        return F.pad(t, (0, size[2] - w, 0, size[1] - h, 0, size[0] - c))

    return pad(a) + pad(b)


class DlibBlock(nn.Module):
    """conv-affine-relu-conv-affine plus the shortcut, then ReLU; `down` strides by 2 (no padding)."""

    def __init__(self, c_in: int, c_out: int, *, down: bool) -> None:
        super().__init__()
        self.down = down
        stride, padding = (2, 0) if down else (1, 1)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=padding)
        self.affine1 = Affine(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.affine2 = Affine(c_out)

    def forward(self, x: Tensor) -> Tensor:
        y = self.affine2(self.conv2(F.relu(self.affine1(self.conv1(x)))))
        if self.down:
            return F.relu(add_overlap(y, F.avg_pool2d(x, 2, stride=2)))
        return F.relu(y + x)


class GlobalAverage(nn.Module):
    """(B, C, H, W) -> (B, C): dlib's `avg_pool_everything`."""

    def forward(self, x: Tensor) -> Tensor:
        return x.mean(dim=(2, 3))


def dlib_trunk(levels: Sequence[tuple[int, int]] = LEVELS) -> nn.Sequential:
    """Stem (7x7/2 conv, affine, ReLU, 3x3/2 max-pool) and the residual levels."""
    layers: list[nn.Module] = [
        nn.Conv2d(3, 32, 7, stride=2),
        Affine(32),
        nn.ReLU(),
        nn.MaxPool2d(3, stride=2),
    ]
    c_in = 32
    for index, (channels, blocks) in enumerate(levels):
        for b in range(blocks):
            layers.append(DlibBlock(c_in, channels, down=index > 0 and b == 0))
            c_in = channels
    layers.append(GlobalAverage())
    return nn.Sequential(*layers)


def dlib_resnet(*, in_channels: int, height: int, width: int, embedding_dim: int) -> EmbeddingNet:
    """The network for 3 x height x width inputs (dlib's weights expect 150 x 150 chips) and a 128-d output."""
    if in_channels != 3:
        raise ValueError(f"dlib-resnet takes RGB input (in_channels=3), got {in_channels}")
    if embedding_dim != 128:
        raise ValueError(f"dlib-resnet's embedding layer is 128-d, got embedding_dim={embedding_dim}")
    if min(height, width) < 100:
        raise ValueError(f"dlib-resnet needs inputs of at least 100 px (150 expected), got {height}x{width}")
    config = dict(name="dlib-resnet", in_channels=3, height=height, width=width, embedding_dim=128)
    return EmbeddingNet(dlib_trunk(), nn.Linear(256, 128, bias=False), config=config)


def _targets(model: EmbeddingNet) -> Iterator[tuple[str, nn.Module]]:
    """The model's parameterised layers in dlib's file order: input side first."""
    for module in model.trunk.modules():
        if isinstance(module, nn.Conv2d):
            yield "con", module
        elif isinstance(module, Affine):
            yield "affine", module
    yield "fc", model.head


def load_dlib_layers(model: EmbeddingNet, layers: Sequence) -> None:
    """Copy dlib layers (from `read_dat`) into the model; ValueError on any kind or shape that differs."""
    targets = list(_targets(model))
    if len(targets) != len(layers):
        raise ValueError(f"the file has {len(layers)} parameterised layers, the network {len(targets)}")
    with torch.no_grad():
        for index, ((kind, module), layer) in enumerate(zip(targets, layers, strict=True)):
            if kind != layer.kind:
                raise ValueError(f"layer {index}: file has {layer.kind}, network expects {kind}")
            for name, array in layer.arrays.items():
                param = getattr(module, name)
                if tuple(param.shape) != array.shape:
                    raise ValueError(
                        f"layer {index} {name}: file {array.shape}, network {tuple(param.shape)}"
                    )
                param.copy_(torch.from_numpy(array))
