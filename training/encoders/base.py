"""Shared encoder parts: the embedding network wrapper (L2-normalized output) and an export-safe grid pool."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

NORM_EPS = 1e-6  # an all-zero embedding stays zero instead of turning into NaN


class EmbeddingNet(nn.Module):
    """trunk (image -> feature map) then head (feature map -> vector), L2-normalized in float32.

    `config` holds exactly the keyword arguments that rebuild this network with `build_encoder(**config)`.
    """

    def __init__(self, trunk: nn.Module, head: nn.Module, *, config: dict[str, Any]) -> None:
        super().__init__()
        self.trunk = trunk
        self.head = head
        self.config = dict(config)
        self.embedding_dim = int(config["embedding_dim"])

    def forward(self, x: Tensor) -> Tensor:
        return F.normalize(self.head(self.trunk(x)).float(), p=2.0, dim=1, eps=NORM_EPS)


class GridPool(nn.Module):
    """Adaptive average pooling of a fixed (h, w) map to (out_h, out_w), flattened to (B, C*out_h*out_w).

    Same windows as `nn.AdaptiveAvgPool2d`, but done as one MatMul with a constant matrix, so it exports to
    ONNX with either exporter even when out does not divide in (the legacy exporter refuses that case).
    """

    def __init__(self, in_hw: tuple[int, int], out_hw: tuple[int, int]) -> None:
        super().__init__()
        self.in_hw, self.out_hw = in_hw, out_hw
        weights = torch.kron(_window_matrix(in_hw[0], out_hw[0]), _window_matrix(in_hw[1], out_hw[1]))
        self.register_buffer("weights", weights.T.contiguous(), persistent=False)  # (h*w, out_h*out_w)

    def forward(self, x: Tensor) -> Tensor:
        return torch.matmul(x.flatten(2), self.weights).flatten(1)


class GeM(nn.Module):
    """Generalized-mean pooling over the whole map, (B, C, H, W) -> (B, C, 1, 1), with a learned exponent p.

    p = 1 is average pooling and large p tends to max pooling, so a small bright detail (a crack, a pore)
    is not diluted by the plain area around it (Radenovic et al., TPAMI 2019). Exports to ONNX as
    Clip, Pow, GlobalAveragePool, Pow.
    """

    def __init__(self, p: float = 3.0, eps: float = 1e-6) -> None:
        super().__init__()
        self.p = nn.Parameter(torch.tensor([float(p)]))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        p = self.p.clamp(min=1.0)
        return F.adaptive_avg_pool2d(x.clamp(min=self.eps).pow(p), 1).pow(1.0 / p)


POOLS = ("avg", "gem", "grid2")
POOLED_CELLS = {"avg": 1, "gem": 1, "grid2": 4}  # vectors of the trunk's width each pooling gives


def pooling(pool: str, map_hw: tuple[int, int]) -> nn.Module:
    """The pooling named `pool` over a (h, w) feature map, giving (B, C * POOLED_CELLS[pool]) once flattened:
    "avg" (global average), "gem" (generalized mean, learned p) or "grid2" (the average of each quarter of the
    map, 2 x 2: where a thing lies in the image counts, as a body part's place on an X-ray does)."""
    if pool not in POOLS:
        raise ValueError(f"pool must be one of {POOLS}, got {pool!r}")
    if pool == "grid2":
        return GridPool(map_hw, (2, 2))
    return GeM() if pool == "gem" else nn.AdaptiveAvgPool2d(1)


def trunk_pooling(pool: str, trunk: nn.Module, *, in_channels: int, height: int, width: int) -> nn.Module:
    """`pooling` over `trunk`'s map at this input size (measured only where the pooling needs it: the grid)."""
    map_hw = (1, 1)
    if pool == "grid2":
        _, h, w = feature_shape(trunk, in_channels=in_channels, height=height, width=width)
        map_hw = (h, w)
    return pooling(pool, map_hw)


def pooled_head(
    pool: str,
    trunk: nn.Module,
    *,
    channels: int,
    in_channels: int,
    height: int,
    width: int,
    embedding_dim: int,
) -> list[nn.Module]:
    """`trunk_pooling`, then a Linear projection to embedding_dim."""
    return [
        trunk_pooling(pool, trunk, in_channels=in_channels, height=height, width=width),
        nn.Flatten(),
        nn.Linear(channels * POOLED_CELLS[pool], embedding_dim),
    ]


def average_projection_on_grid(weight: Tensor, cells: int) -> Tensor:
    """A Linear weight (D, C) over averaged features, as the weight (D, C * cells) over `GridPool`'s cells
    (flattened channel-major) that gives the same output: each channel's column split evenly over its cells.
    Exact when the cells are equal windows (a map of even size under "grid2"), close otherwise."""
    return weight.repeat_interleave(cells, dim=1) / cells


def _window_matrix(size: int, out: int) -> Tensor:
    """(out, size) averaging matrix; PyTorch's adaptive windows [floor(i*size/out), ceil((i+1)*size/out))."""
    rows = torch.zeros(out, size)
    for i in range(out):
        start, end = (i * size) // out, -((-(i + 1) * size) // out)
        rows[i, start:end] = 1.0 / (end - start)
    return rows


def feature_shape(trunk: nn.Module, *, in_channels: int, height: int, width: int) -> tuple[int, int, int]:
    """(channels, height, width) of the trunk's output for one input of the given size."""
    was_training = trunk.training
    trunk.eval()
    try:
        with torch.no_grad():
            out = trunk(torch.zeros(1, in_channels, height, width))
    except RuntimeError as exc:
        raise ValueError(f"input {height}x{width} is too small for this encoder: {exc}") from exc
    finally:
        trunk.train(was_training)
    if out.shape[2] < 1 or out.shape[3] < 1:
        raise ValueError(f"input {height}x{width} is too small for this encoder")
    return int(out.shape[1]), int(out.shape[2]), int(out.shape[3])


def conv_bn_relu(c_in: int, c_out: int, kernel: int, *, stride: int = 1, padding: int = 0) -> list[nn.Module]:
    return [
        nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    ]
