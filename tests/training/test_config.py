"""Typed config overrides: dotted keys, declared types, unknown keys rejected."""

import pytest

from training.config import TrainConfig, apply_overrides, from_dict


def test_apply_overrides_parses_declared_types():
    cfg = apply_overrides(
        TrainConfig(),
        [
            "optim.lr=3e-4",
            "optim.time_budget_min=none",
            "augment.hflip=true",
            "input.mean=0.1,0.2,0.3",
            "optim.epochs=7",
        ],
    )
    assert cfg.optim.lr == 3e-4 and cfg.optim.time_budget_min is None and cfg.augment.hflip is True
    assert cfg.input.mean == (0.1, 0.2, 0.3) and cfg.optim.epochs == 7


@pytest.mark.parametrize("pair", ["optim.lrr=1", "nope=1", "optim=1", "optim.epochs=many", "no-equals"])
def test_apply_overrides_rejects_bad_keys_and_values(pair):
    with pytest.raises(ValueError):
        apply_overrides(TrainConfig(), [pair])


def test_from_dict_round_trips():
    cfg = apply_overrides(TrainConfig(), ["data.paths=a,b", "augment.scale=0.5,1.5", "name=x"])
    assert from_dict(cfg.to_dict()) == cfg
