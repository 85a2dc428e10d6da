"""Scale averaging: the embedding averages the encoder over its input and the resized input, unit-norm."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from training.encoders import build_encoder
from training.export import export_with_parity
from training.scales import ScaleAverage


def _encoder() -> nn.Module:
    torch.manual_seed(0)
    return build_encoder("resnet-small", in_channels=1, height=32, width=32, embedding_dim=8).eval()


def test_scale_average_is_the_normalized_sum_over_the_input_and_its_resized_copies():
    plain, x = _encoder(), torch.randn(2, 1, 32, 32)
    model = ScaleAverage(plain, (24, 40))
    with torch.no_grad():
        out = model(x)
        parts = [plain(x)] + [
            plain(F.interpolate(x, size=(s, s), mode="bilinear", align_corners=False)) for s in (24, 40)
        ]
        expected = F.normalize(sum(parts), dim=1)
    assert torch.allclose(out, expected, atol=1e-6)
    assert torch.allclose(out.norm(dim=1), torch.ones(2), atol=1e-5)
    assert not torch.allclose(out, plain(x), atol=1e-3)


def test_scale_average_needs_sizes():
    with pytest.raises(ValueError, match="one or more sizes"):
        ScaleAverage(_encoder(), ())


def test_scale_average_exports_to_onnx_with_parity(tmp_path):
    model = ScaleAverage(_encoder(), (24, 40)).eval()
    batch = torch.randn(3, 1, 32, 32).numpy()
    assert export_with_parity(model, batch, tmp_path / "scaled.onnx", max_mb=32.0) < 1e-4
