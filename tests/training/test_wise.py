"""WiSE-FT weight interpolation between pretrained and fine-tuned weights."""

import pytest
import torch

from training.wise import ensemble_with_pretrained, interpolate


def test_interpolate_mixes_float_entries_and_keeps_integer_ones():
    pre = {"w": torch.tensor([0.0, 2.0]), "n": torch.tensor(3)}
    tuned = {"w": torch.tensor([1.0, 4.0]), "n": torch.tensor(7)}
    out = interpolate(pre, tuned, alpha=0.25)
    assert out["w"].tolist() == [0.25, 2.5] and out["n"].item() == 7


@pytest.mark.parametrize("alpha", [-0.1, 1.5])
def test_interpolate_refuses_alpha_outside_0_1(alpha):
    with pytest.raises(ValueError, match="alpha"):
        interpolate({"w": torch.zeros(1)}, {"w": torch.ones(1)}, alpha=alpha)


def test_interpolate_refuses_different_keys_or_shapes():
    with pytest.raises(ValueError, match="keys"):
        interpolate({"a": torch.zeros(1)}, {"b": torch.zeros(1)}, alpha=0.5)
    with pytest.raises(ValueError, match="shapes"):
        interpolate({"a": torch.zeros(1)}, {"a": torch.zeros(2)}, alpha=0.5)


def test_ensemble_with_pretrained_at_the_ends_gives_either_model():
    torch.manual_seed(0)
    pre, tuned = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    expected = {k: v.clone() for k, v in tuned.state_dict().items()}
    assert torch.equal(ensemble_with_pretrained(tuned, pre, alpha=1.0).weight, expected["weight"])
    assert torch.equal(ensemble_with_pretrained(tuned, pre, alpha=0.0).weight, pre.weight)
