"""Flip averaging: the averaged embedding is the same for an image and its mirrors, and unit-norm."""

import pytest
import torch
from torch import nn

from training.encoders import build_encoder
from training.flips import FlipAverage


def _encoder() -> nn.Module:
    torch.manual_seed(0)
    return build_encoder("resnet-small", in_channels=1, height=32, width=24, embedding_dim=8).eval()


def test_hv_flip_average_is_the_same_for_an_image_and_each_of_its_mirrors():
    model, x = FlipAverage(_encoder(), "hv"), torch.randn(2, 1, 32, 24)
    with torch.no_grad():
        out = model(x)
        for dims in ((3,), (2,), (2, 3)):
            assert torch.allclose(model(torch.flip(x, dims)), out, atol=1e-5)
    assert torch.allclose(out.norm(dim=1), torch.ones(2), atol=1e-5)


def test_h_flip_average_is_left_right_invariant_only():
    plain, x = _encoder(), torch.randn(1, 1, 32, 24)
    model = FlipAverage(plain, "h")
    with torch.no_grad():
        assert torch.allclose(model(torch.flip(x, (3,))), model(x), atol=1e-5)
        assert not torch.allclose(model(torch.flip(x, (2,))), model(x), atol=1e-3)
        assert not torch.allclose(model(x), plain(x), atol=1e-3)  # it is not the plain encoder


def test_unknown_flip_mode_raises_value_error():
    with pytest.raises(ValueError, match="flip averaging must be one of"):
        FlipAverage(_encoder(), "rot90")
