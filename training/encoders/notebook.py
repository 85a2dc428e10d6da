"""The "bodypart notebook" baseline: 3 x [conv3x3 -> ReLU -> maxpool 2] -> flatten -> dense embedding."""

from __future__ import annotations

from torch import nn

from training.encoders.base import EmbeddingNet, feature_shape

CHANNELS = (32, 64, 128)


def notebook_cnn(*, in_channels: int, height: int, width: int, embedding_dim: int) -> EmbeddingNet:
    """Unpadded ("valid") 3x3 convolutions without normalization, as in the notebook; needs inputs >= 22x22.

    The dense layer sees the whole flattened map, so its size grows with the input (128x128 -> 3.2M weights).
    """
    layers: list[nn.Module] = []
    c_in = in_channels
    for c_out in CHANNELS:
        layers += [nn.Conv2d(c_in, c_out, 3), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
        c_in = c_out
    trunk = nn.Sequential(*layers)
    c, h, w = feature_shape(trunk, in_channels=in_channels, height=height, width=width)
    head = nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, embedding_dim))
    config = dict(
        name="notebook-cnn", in_channels=in_channels, height=height, width=width, embedding_dim=embedding_dim
    )
    return EmbeddingNet(trunk, head, config=config)
