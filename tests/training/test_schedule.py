"""Learning-rate schedule and early-stopping rule."""

import pytest

from training.schedule import get_lr, should_stop


def test_get_lr_warms_up_linearly_then_peaks():
    lrs = [get_lr(s, base_lr=1.0, min_lr=0.0, warmup_steps=4, total_steps=100) for s in range(4)]
    assert lrs == [0.25, 0.5, 0.75, 1.0]


def test_get_lr_cosine_reaches_half_way_and_floor():
    kw = dict(base_lr=1.0, min_lr=0.1, warmup_steps=0, total_steps=100)
    assert get_lr(50, **kw) == pytest.approx(0.55)  # min + (base - min) * (1 + cos(pi/2)) / 2
    assert get_lr(100, **kw) == pytest.approx(0.1)
    assert get_lr(500, **kw) == pytest.approx(0.1)


def test_should_stop_after_patience_without_improvement():
    assert not should_stop([0.5, 0.6, 0.6, 0.6], patience=3)
    assert should_stop([0.5, 0.6, 0.6, 0.6, 0.59], patience=3)
    assert not should_stop([0.5, 0.4, 0.3], patience=0)


def test_planned_epochs_fits_time_budget_and_caps_at_epochs():
    from training.config import TrainConfig, apply_overrides
    from training.train import planned_epochs

    cfg = apply_overrides(TrainConfig(), ["optim.epochs=30", "optim.time_budget_min=10"])
    assert planned_epochs(cfg, epoch_seconds=60.0) == 10
    assert planned_epochs(cfg, epoch_seconds=1.0) == 30
    assert planned_epochs(cfg, epoch_seconds=900.0) == 1
    assert planned_epochs(apply_overrides(cfg, ["optim.time_budget_min=none"]), epoch_seconds=60.0) == 30
