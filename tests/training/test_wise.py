"""WiSE-FT weight interpolation between pretrained and fine-tuned weights."""

import pytest
import torch
from torch import nn

from training.wise import (
    batchnorm_statistics,
    ensemble_with_pretrained,
    interpolate,
    pretrained_entries,
    recompute_batchnorm,
)


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


def test_interpolate_blends_only_the_named_entries():
    pre = {"trunk.w": torch.tensor([0.0]), "head.w": torch.tensor([8.0])}
    tuned = {"trunk.w": torch.tensor([2.0]), "head.w": torch.tensor([4.0])}
    out = interpolate(pre, tuned, alpha=0.5, keys={"trunk.w"})
    assert out["trunk.w"].item() == 1.0 and out["head.w"].item() == 4.0


def test_interpolate_refuses_entries_neither_holds():
    with pytest.raises(ValueError, match="neither holds"):
        interpolate({"a": torch.zeros(1)}, {"a": torch.ones(1)}, alpha=0.5, keys={"b"})


def _trunk_and_head() -> nn.Module:
    return nn.ModuleDict(
        {"trunk": nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)), "head": nn.Linear(4, 2)}
    )


def test_pretrained_entries_are_what_the_loader_sets():
    model = _trunk_and_head()
    weights = _trunk_and_head()["trunk"].state_dict()
    loaded = pretrained_entries(model, lambda m: m["trunk"].load_state_dict(weights))
    # the batch count is an integer: interpolate keeps it from the fine-tuned model anyway
    assert loaded == {"trunk.0.weight", "trunk.0.bias"} | {
        f"trunk.1.{b}" for b in ("weight", "bias", "running_mean", "running_var")
    }
    assert torch.isnan(model["head"].weight).all()


def test_batchnorm_statistics_names_running_buffers_only():
    assert batchnorm_statistics(_trunk_and_head()) == {
        "trunk.1.running_mean",
        "trunk.1.running_var",
        "trunk.1.num_batches_tracked",
    }


def test_recompute_batchnorm_averages_over_the_batches():
    bn = nn.BatchNorm1d(1, momentum=0.1)
    batches = [torch.tensor([[0.0], [2.0]]), torch.tensor([[4.0], [6.0]])]
    model = recompute_batchnorm(nn.Sequential(bn), batches)
    # each batch's mean (1, 5) and unbiased variance (2, 2), averaged: the stale statistics are gone
    assert bn.running_mean.item() == pytest.approx(3.0) and bn.running_var.item() == pytest.approx(2.0)
    assert not model.training and bn.momentum == 0.1
