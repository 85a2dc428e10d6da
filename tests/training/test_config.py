"""Training configs: typed overrides, strict values and loading, combinations refused before any training."""

import json
import typing
from pathlib import Path

import pytest

from modelcard.card import ALIGN_KINDS, RESIZE_MODES
from training.cli import main
from training.config import (
    POOLED_ENCODERS,
    Align,
    ConfigError,
    Loss,
    OptimConfig,
    Pool,
    Resize,
    TrainConfig,
    apply_overrides,
    check,
    from_dict,
    problems,
)
from training.encoders import ENCODERS
from training.encoders.base import POOLS
from training.losses import LOSSES
from training.recipes import RECIPES, recipe_config

MODELS = Path(__file__).resolve().parents[2] / "models"


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


@pytest.mark.parametrize(
    ("pair", "says"),
    [
        ("optim.sampler=pairz", "'optim.sampler': expected one of pk, pairs"),
        ("eval.select=auc", "'eval.select': expected one of nway"),
        ("optim.loss=arcfce", "'optim.loss'"),
        ("input.channels=2", "expected one of 1, 3"),
        ("optim.epochs=0", "greater than 0"),
        ("data.val=1.5", "'data.val'"),
        ("eval.fpirs=0.01,2", "'eval.fpirs'"),
        ("optim.wise_alpha=1.5", "'optim.wise_alpha'"),
        ("optim.bogus=1", "unknown config key 'bogus' in 'optim.bogus'"),
    ],
)
def test_apply_overrides_bad_value_raises_config_error_naming_the_key(pair, says):
    with pytest.raises(ConfigError, match=says.replace("(", r"\(")):
        apply_overrides(TrainConfig(), [pair])


def test_config_classes_refuse_bad_values_when_built_in_code():
    with pytest.raises(ValueError, match="sampler"):
        OptimConfig(sampler="pairz")
    with pytest.raises(ValueError, match="unexpected_keyword|Unexpected keyword"):
        OptimConfig(bogus=1)


@pytest.mark.parametrize(
    ("pairs", "says"),
    [
        (["optim.sampler=pairs", "optim.loss=arcface"], "contrastive loss only"),
        (
            ["optim.sampler=pairs", "optim.loss=contrastive", "optim.group_batches=true"],
            "needs optim.sampler=pk",
        ),
        (["optim.k=1"], "K >= 2"),
        (["optim.min_lr=0.1", "optim.lr=0.01"], "min_lr"),
        (["optim.warmup_epochs=5", "optim.epochs=2"], "warmup_epochs"),
        (["model.encoder=koch", "model.pool=gem"], "needs an encoder that takes it"),
        (["optim.wise_alpha=0.5"], "needs model.pretrained"),
        (["optim.wise_batchnorm=recompute"], "needs optim.wise_alpha"),
        (["eval.select=kshot_macro", "data.split=class"], "needs data.split=image"),
        (["data.val=0.6", "data.test=0.4"], "nothing to train on"),
        (["data.novel_classes=a", "data.split=class"], "novel_classes"),
        (["input.channels=3"], "one value per channel"),
        (
            [
                "input.align=face5",
                "input.channels=3",
                "input.mean=0,0,0",
                "input.std=1,1,1",
                "input.width=32",
            ],
            "square",
        ),
        (["model.encoder=resnet-big"], "model.encoder='resnet-big'"),
        (["model.encoder=mobilenet-v2", "model.pretrained=imagenet"], "channels=3"),
        (["model.encoder=koch", "model.pretrained=imagenet"], "no pretrained weights"),
        (["data.recipe=facez"], "data.recipe='facez' names no data"),
        (["data.recipe=defects-160"], "choose one of folder, omniglot, faces"),  # a recipe, not a data source
    ],
)
def test_check_refuses_combinations_that_cannot_train(pairs, says):
    cfg = apply_overrides(TrainConfig(), pairs)
    with pytest.raises(ConfigError, match=says):
        check(cfg)


def test_check_names_every_problem_at_once():
    cfg = apply_overrides(TrainConfig(), ["optim.sampler=pairs", "optim.wise_alpha=0.5"])
    assert len(problems(cfg)) == 2


def test_check_accepts_contrastive_pairs_and_arcface_pk():
    check(apply_overrides(TrainConfig(), ["optim.sampler=pairs", "optim.loss=contrastive"]))
    check(apply_overrides(TrainConfig(), ["optim.loss=arcface", "optim.k=1"]))


@pytest.mark.parametrize("recipe", RECIPES)
def test_every_recipe_passes_check(recipe):
    assert problems(recipe_config(recipe)) == []


@pytest.mark.parametrize("card", sorted(MODELS.glob("*.json")), ids=lambda p: p.stem)
def test_from_dict_loads_every_shipped_cards_config(card):
    data = json.loads(card.read_text())["training"]["config"]
    assert from_dict(data).name == data["name"]


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (lambda d: d.update(bogus=1), "bogus: unknown key"),
        (lambda d: d["optim"].update(bogus=1), "optim.bogus: unknown key"),
        (lambda d: d["augment"].update(bogus=1), "augment.bogus: unknown key"),
        (lambda d: d["optim"].update(epochs="3"), "optim.epochs: Input should be a valid integer"),
        (lambda d: d["optim"].update(sampler="pairz"), "optim.sampler"),
        (lambda d: d["optim"].update(sampler="pairs", loss="arcface"), "contrastive loss only"),
    ],
)
def test_from_dict_refuses_unknown_keys_wrong_types_and_bad_combinations(change, says):
    data = TrainConfig().to_dict()
    change(data)
    with pytest.raises(ConfigError, match=says):
        from_dict(json.loads(json.dumps(data)))


def test_literals_name_what_their_consumers_accept():
    assert set(typing.get_args(Loss)) == set(LOSSES)
    assert set(typing.get_args(Resize)) == set(RESIZE_MODES)
    assert set(typing.get_args(Align)) == set(ALIGN_KINDS)
    assert set(typing.get_args(Pool)) == set(POOLS) and set(POOLED_ENCODERS) <= set(ENCODERS)


@pytest.mark.parametrize(
    "argv",
    [
        ["--set", "optim.sampler=pairz"],
        ["--set", "eval.select=auc"],
        ["--loss", "contrastive", "--set", "optim.sampler=pairs", "--set", "optim.loss=arcface"],
        ["--set", "eval.select=kshot_macro"],  # the omniglot recipe splits by group
        ["--set", "data.recipe=facez"],  # was a bare KeyError once the data was being read
    ],
)
def test_cli_train_refuses_a_bad_config_before_loading_any_data(tmp_path, capsys, argv):
    missing = tmp_path / "no-such-data"
    code = main(["train", "--recipe", "omniglot", "--data-root", str(missing), "--no-progress", *argv], {})
    assert code == 2 and "error:" in capsys.readouterr().err  # loading the missing data would raise instead


def test_cli_loss_flag_offers_only_known_losses(capsys):
    with pytest.raises(SystemExit):
        main(["config", "--recipe", "omniglot", "--loss", "arcfce"], {})
    assert "invalid choice" in capsys.readouterr().err


def test_train_refuses_a_bad_combination_before_touching_disk(tmp_path):
    from training.train import train

    cfg = apply_overrides(
        TrainConfig(), ["optim.sampler=pairs", "optim.loss=arcface", f"run_dir={tmp_path / 'r'}"]
    )
    with pytest.raises(ConfigError, match="contrastive loss only"):
        train(cfg)
    assert not (tmp_path / "r").exists()


def test_stop_reason_names_the_time_budget_only_when_it_cut_the_run():
    from training.train import stop_reason

    ordinary = apply_overrides(TrainConfig(), ["optim.epochs=3"])
    assert stop_reason(ordinary, epochs_run=3) == "done after 3 of 3 epochs"
    budgeted = apply_overrides(TrainConfig(), ["optim.epochs=10", "optim.time_budget_min=2"])
    assert stop_reason(budgeted, epochs_run=10) == "done after 10 of 10 epochs"
    assert stop_reason(budgeted, epochs_run=4) == (
        "stopping after 4 of 10 epochs: the time budget (2 min) leaves no room for more"
    )
