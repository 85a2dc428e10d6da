"""Fine-tuning a pretrained trunk: the frozen warm-up and the per-group learning rates."""

import pytest
import torch

from training.config import TrainConfig, apply_overrides
from training.encoders import build_encoder
from training.finetune import param_groups, scaled_lrs, set_trunk_trainable, trunk_trainable
from training.losses import make_loss
from training.train import _optim_params


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_encoder("resnet-small", in_channels=1, height=32, width=32, embedding_dim=8, base_width=8)


def test_trunk_trainable_only_after_freeze_epochs():
    assert [trunk_trainable(e, freeze_epochs=2) for e in range(4)] == [False, False, True, True]
    assert trunk_trainable(0, freeze_epochs=0)


def test_frozen_trunk_gets_no_gradient_and_keeps_its_batchnorm_statistics():
    model = _model().train()
    set_trunk_trainable(model, False)
    stats = [m.running_mean.clone() for m in model.trunk.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    loss = make_loss("multi-similarity", embedding_dim=8, num_classes=2, margin=None)
    loss(model(torch.randn(8, 1, 32, 32)), torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])).backward()
    assert all(p.grad is None for p in model.trunk.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.head.parameters())
    after = [m.running_mean for m in model.trunk.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert all(torch.equal(a, b) for a, b in zip(stats, after, strict=True))


def test_unfrozen_trunk_learns_again():
    model = _model().train()
    set_trunk_trainable(model, False)
    model.train()
    set_trunk_trainable(model, True)
    model(torch.randn(4, 1, 32, 32)).sum().backward()
    assert model.trunk.training and all(p.grad is not None for p in model.trunk.parameters())


def test_param_groups_split_trunk_from_head_and_loss_parameters():
    model = _model()
    arcface = make_loss("arcface", embedding_dim=8, num_classes=3, margin=None)
    groups = param_groups(model, arcface, trunk_lr_mult=0.1)
    assert [g["name"] for g in groups] == ["trunk", "head"]
    assert len(groups[0]["params"]) == len(list(model.trunk.parameters()))
    assert len(groups[1]["params"]) == len(list(model.head.parameters())) + len(list(arcface.parameters()))


def test_per_group_learning_rates_reach_the_optimizer():
    cfg = apply_overrides(TrainConfig(), ["optim.freeze_epochs=1", "optim.trunk_lr_mult=0.25"])
    model, loss = _model(), make_loss("multi-similarity", embedding_dim=8, num_classes=2, margin=None)
    optimizer = torch.optim.AdamW(_optim_params(cfg, model, loss), lr=1e-3)
    for group, lr in zip(optimizer.param_groups, scaled_lrs(2e-3, optimizer.param_groups), strict=True):
        group["lr"] = lr
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([5e-4, 2e-3])


def test_plain_training_keeps_one_parameter_group():
    model, loss = _model(), make_loss("multi-similarity", embedding_dim=8, num_classes=2, margin=None)
    params = _optim_params(TrainConfig(), model, loss)
    assert len(torch.optim.AdamW(params, lr=1e-3).param_groups) == 1
    assert scaled_lrs(0.5, [{"params": []}]) == [0.5]


def test_param_groups_reject_a_non_positive_multiplier():
    with pytest.raises(ValueError, match="trunk_lr_mult"):
        param_groups(_model(), torch.nn.Module(), trunk_lr_mult=0.0)
