"""Two encoders side by side (`training.concat`): the inner product of two embeddings is the two encoders' cosine
similarities averaged with weights 1 and w^2."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from training.concat import Concatenated


def linear(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 5))


def test_similarity_is_the_weighted_mean_of_each_encoders_cosine():
    first, second = linear(0), linear(1)
    x, y = torch.randn(4, 3, 2, 2), torch.randn(4, 3, 2, 2)
    for weight in (0.0, 0.5, 1.0, 2.0):
        model = Concatenated(first, second, weight)
        got = (model(x) * model(y)).sum(1)
        cos_a = F.cosine_similarity(first(x), first(y))
        cos_b = F.cosine_similarity(second(x), second(y))
        want = (cos_a + weight**2 * cos_b) / (1 + weight**2)
        assert torch.allclose(got, want, atol=1e-5), (weight, got, want)
        assert torch.allclose(model(x).norm(dim=1), torch.ones(4), atol=1e-5)


def test_a_negative_weight_is_refused():
    with pytest.raises(ValueError, match="must be >= 0"):
        Concatenated(linear(0), linear(1), -0.5)
