"""Training configuration: frozen dataclasses composed into one `TrainConfig`, with typed `key=value` overrides.

Each component owns its defaults; recipes (`training/recipes.py`) start from these and change what their domain
needs. Every field's type is checked as it is built (pydantic dataclasses: enumerations are `Literal`s, numbers
have ranges, unknown keys are errors), and `check` refuses combinations that cannot train as written.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import field
from typing import Annotated, Any, Literal

import pydantic
from pydantic import ConfigDict, Field, NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt
from pydantic.dataclasses import dataclass

from modelcard.identification import Statistic
from training.data.augment import AugmentConfig

Split = Literal["class", "image", "group"]
Resize = Literal["stretch", "center_crop", "pad"]  # modelcard.card.RESIZE_MODES
Align = Literal["face5"]  # modelcard.card.ALIGN_KINDS
Pool = Literal["avg", "gem", "grid2"]
# The encoders that take model.pool; the others pool their own way.
POOLED_ENCODERS = ("resnet-small", "mobilenet-v2", "efficientnet-lite0", "efficientnet-lite2")
Loss = Literal["contrastive", "triplet-semihard", "triplet-batchhard", "multi-similarity", "arcface"]
Sampler = Literal["pk", "pairs"]
Select = Literal["nway", "kshot_top1", "kshot_macro", "verification_auc"]
Device = Literal["auto", "cpu", "cuda"]
# WiSE-FT's batch-norm running statistics: interpolated like the weights, kept as fine-tuned, or re-estimated
# on the training images once the weights are interpolated (training/wise.py)
WiseBatchNorm = Literal["interpolate", "finetuned", "recompute"]
Fraction = Annotated[float, Field(ge=0, lt=1)]
Rate = Annotated[float, Field(gt=0, lt=1)]
Unit = Annotated[float, Field(ge=0, le=1)]
STRICT = ConfigDict(extra="forbid")  # unknown keys are errors, never dropped


@dataclass(frozen=True, config=STRICT)
class DataConfig:
    """Where the images come from and how they are split (seeded; written into the model card)."""

    recipe: str = (
        "folder"  # folder | omniglot | faces | defects | bodyparts (checked against training.recipes)
    )
    # class-per-folder roots (recipe "folder"), relative to data_root unless absolute
    paths: tuple[str, ...] = ()
    data_root: str = "../shared/data"
    split: Split = "class"
    val: Fraction = 0.15
    test: Fraction = 0.15
    val_groups: NonNegativeInt = 4
    test_groups: NonNegativeInt = 4
    novel_classes: tuple[str, ...] = ()  # classes held out entirely (val/test) on an image split
    # A refit once epochs are chosen: the novel classes' validation images train too (their test images stay
    # held out, and validation keeps the trained classes alone).
    train_novel_val: bool = False
    # A warm start whose ancestor was split with other novel classes (and the same seed, fractions and data):
    # the images that split trained on are dropped from val and test, so nothing the weights have seen is
    # measured (None: no such ancestor).
    ancestor_novel_classes: tuple[str, ...] | None = None
    rotated_classes: bool = False  # add training classes turned by 90/180/270 degrees as new classes
    seed: NonNegativeInt = 0


@dataclass(frozen=True, config=STRICT)
class InputConfig:
    """The encoder's input; becomes the card's `input` block."""

    height: PositiveInt = 64
    width: PositiveInt = 64
    channels: Literal[1, 3] = 1
    mean: tuple[float, ...] = (0.5,)
    std: tuple[PositiveFloat, ...] = (0.5,)
    resize: Resize = "stretch"
    invert: bool = False
    # "face5": faces detected and aligned onto a height x width chip before preprocessing (modelcard.align),
    # with dlib's packaged 5-point landmarks; the card then ships them as <name>.landmarks.dat.
    align: Align | None = None
    # lift dark images' mean to this by a gamma (modelcard.preprocess.brighten)
    brighten: Rate | None = None


@dataclass(frozen=True, config=STRICT)
class ModelConfig:
    encoder: str = "resnet-small"  # one of training.encoders.ENCODERS (checked by `check`)
    embedding_dim: PositiveInt = 128
    base_width: PositiveInt = 32  # resnet-small: channels of the first stage
    stem_stride: Literal[0, 1, 2, 4] = (
        0  # resnet-small: 0 = automatic, else 1, 2 or 4 (stride-2 conv + max-pool)
    )
    # POOLED_ENCODERS: avg (global average) | gem (generalized mean) | grid2 (each quarter of the map averaged)
    pool: Pool = "avg"
    width_mult: PositiveFloat = 0.5  # koch: channel multiplier on Koch et al.'s 64-128-128-256
    # Trunk weights from a package (training/encoders/pretrained.py), e.g. "imagenet" for mobilenet-v2; needs
    # the input those weights expect (checked by `check`). None: random init.
    pretrained: str | None = None


@dataclass(frozen=True, config=STRICT)
class OptimConfig:
    loss: Loss = "multi-similarity"
    sampler: Sampler = (
        "pk"  # pk (P classes x K images) | pairs (balanced same/different pairs; contrastive only)
    )
    margin: NonNegativeFloat | None = None
    lr: PositiveFloat = 1e-3
    min_lr: NonNegativeFloat = 1e-5
    weight_decay: NonNegativeFloat = 5e-4
    epochs: PositiveInt = 30
    warmup_epochs: NonNegativeInt = 1
    p: PositiveInt = 16
    k: PositiveInt = 4
    batches_per_epoch: PositiveInt = 100
    group_batches: bool = False  # each P x K batch from one group (source set) where it can: harder negatives
    patience: NonNegativeInt = 6  # epochs without validation improvement before stopping (0: never stop)
    # Fine-tuning a pretrained trunk (training/finetune.py): the first freeze_epochs train the head alone, then
    # the trunk learns at trunk_lr_mult x the scheduled rate (1.0 and 0: one rate for all, nothing frozen).
    freeze_epochs: NonNegativeInt = 0
    trunk_lr_mult: PositiveFloat = 1.0
    # With model.pretrained: the exported weights are (1 - wise_alpha) x pretrained + wise_alpha x the best
    # epoch's (training/wise.py; only the entries the pretrained weights set, so a head that started random keeps
    # its trained weights); None exports the best epoch's weights as they are.
    wise_alpha: Unit | None = None
    wise_batchnorm: WiseBatchNorm = "interpolate"
    time_budget_min: PositiveFloat | None = None  # stop (keeping the best checkpoint) after this many minutes


@dataclass(frozen=True, config=STRICT)
class EvalConfig:
    # validation metric for model selection: nway | kshot_top1 | kshot_macro | verification_auc
    # (kshot_macro: the per-class mean over every validation class, novel ones enrolled from their own images;
    # it needs an image split, whose training images are the references)
    select: Select = "kshot_top1"
    n_way: Annotated[int, Field(ge=2)] = 20
    k_shot: PositiveInt = 1
    within_group: bool = False  # n-way tasks drawn within one group (Lake's within-alphabet runs)
    n_tasks: PositiveInt = 400
    kshot: PositiveInt = 5  # references per class for closed-set / open-set identification
    target_far: Rate = 0.01
    # identify's thresholds by gallery size, tuned on validation galleries of G identities x k references
    # (training/metrics/galleries.py): the default false-positive identification rate (None: the one of
    # `fpirs` with the best balanced open-set accuracy on validation), the rates the card holds rows for (a
    # service setting picks among them), the G and k measured (a G is measured while at least as many
    # validation classes are left as strangers), galleries per (G, k)
    target_fpir: Rate | None = None
    identify_statistic: Statistic = "nearest"  # how identify scores an identity (the card records it)
    fpirs: tuple[Rate, ...] = (0.001, 0.01, 0.05, 0.1)
    gallery_sizes: tuple[PositiveInt, ...] = (10, 30, 100, 300)
    gallery_ks: tuple[PositiveInt, ...] = (1, 5)
    gallery_rounds: PositiveInt = (
        100  # 20 left the 1 % threshold of a 3-class gallery 0.03 apart between seeds
    )
    n_pairs: PositiveInt = 6000
    pairs_within_group: bool = (
        False  # impostor pairs from the same group (source set), as a deployment sees them
    )
    seed: NonNegativeInt = 1


@dataclass(frozen=True, config=STRICT)
class TrainConfig:
    name: str = "model"
    data: DataConfig = field(default_factory=DataConfig)
    input: InputConfig = field(default_factory=InputConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    out_dir: str = "models"
    run_dir: str = "runs"
    device: Device = "auto"
    threads: NonNegativeInt = 0  # torch intra-op threads; 0 = torch's default
    init_from: str | None = None  # warm start: encoder weights from this checkpoint (same architecture)
    seed: NonNegativeInt = 0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


class ConfigError(ValueError):
    """A training config with an unknown key, a bad value, or a combination that cannot train as written."""


def _explain(exc: pydantic.ValidationError, *, leaf: bool = False) -> str:
    """The errors of a pydantic validation: where (dotted; left out for one `leaf` field), what, and the value."""
    lines = []
    for err in exc.errors():
        where = "" if leaf else ".".join(str(p) for p in err["loc"]) + ": "
        what = "unknown key" if err["type"] == "unexpected_keyword_argument" else err["msg"]
        shown = repr(err["input"])
        lines.append(f"{where}{what} (got {shown if len(shown) <= 60 else shown[:57] + '...'})")
    return "; ".join(lines)


def _coerce(value: str, annotation: Any) -> Any:
    """Parse a CLI string into the field's declared type (ranges are checked when the config is built)."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value.lower() in ("none", "null"):
            return None
        return _coerce(value, next(a for a in args if a is not type(None)))
    if origin is Literal:
        for option in args:
            if str(option) == value:
                return option
        raise ValueError(f"expected one of {', '.join(map(str, args))}, got {value!r}")
    if origin is tuple:
        parts = [p for p in value.split(",") if p.strip()]
        inner = args[0] if args else str
        return tuple(_coerce(p.strip(), inner) for p in parts)
    if annotation is bool:
        if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(f"expected a boolean, got {value!r}")
        return value.lower() in ("true", "1", "yes")
    return annotation(value)


def _hints(obj: Any) -> dict[str, Any]:
    return typing.get_type_hints(type(obj))


def override(cfg: Any, key: str, value: str) -> Any:
    """Return a copy of `cfg` with dotted `key` (e.g. "optim.lr") set from the string `value`.

    Unknown keys are errors (ConfigError), and values are parsed to the declared type and checked.
    """
    return _set(cfg, key.split("."), key=key, value=value)


def _set(cfg: Any, path: list[str], *, key: str, value: str) -> Any:
    head, rest = path[0], path[1:]
    hints = _hints(cfg)
    if head not in hints:
        known = ", ".join(sorted(hints))
        raise ConfigError(f"unknown config key {head!r} in {key!r}; known: {known}")
    if rest:
        return dataclasses.replace(cfg, **{head: _set(getattr(cfg, head), rest, key=key, value=value)})
    if dataclasses.is_dataclass(hints[head]):
        raise ConfigError(f"{key!r} is a section; set one of its fields, e.g. {key}.<field>=...")
    try:
        return dataclasses.replace(cfg, **{head: _coerce(value, hints[head])})
    except pydantic.ValidationError as exc:
        raise ConfigError(f"bad value for {key!r}: {_explain(exc, leaf=True)}") from exc
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"bad value for {key!r}: {exc}") from exc


def apply_overrides(cfg: TrainConfig, pairs: list[str]) -> TrainConfig:
    """`cfg` with each "key=value" applied in order; each value is checked, combinations are left to `check`."""
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ConfigError(f"override {pair!r} must look like key=value")
        cfg = override(cfg, key.strip(), value.strip())
    return cfg


def problems(cfg: TrainConfig) -> list[str]:
    """What in `cfg` cannot train as written, one sentence each (empty when nothing)."""
    d, i, m, o, e = cfg.data, cfg.input, cfg.model, cfg.optim, cfg.eval
    found = _recipe_problems(d)
    if o.sampler == "pairs" and o.loss != "contrastive":
        found.append(
            f"optim.sampler=pairs trains on same/different pairs with the contrastive loss only, not "
            f"optim.loss={o.loss}; use optim.sampler=pk, or optim.loss=contrastive"
        )
    if o.sampler == "pairs" and o.group_batches:
        found.append("optim.group_batches draws P x K batches; it needs optim.sampler=pk")
    if o.sampler == "pk" and o.k < 2 and o.loss != "arcface":
        found.append(f"optim.k={o.k}: a P x K batch needs K >= 2 images per class for {o.loss} to find pairs")
    if o.min_lr > o.lr:
        found.append(f"optim.min_lr={o.min_lr:g} is above optim.lr={o.lr:g}")
    if o.warmup_epochs > o.epochs:
        found.append(f"optim.warmup_epochs={o.warmup_epochs} is more than optim.epochs={o.epochs}")
    if o.wise_alpha is not None and m.pretrained is None:
        found.append("optim.wise_alpha needs model.pretrained (the weights to interpolate with)")
    if o.wise_batchnorm != "interpolate" and o.wise_alpha is None:
        found.append(
            f"optim.wise_batchnorm={o.wise_batchnorm} needs optim.wise_alpha (nothing is interpolated)"
        )
    if e.select == "kshot_macro" and d.split != "image":
        found.append(
            f"eval.select=kshot_macro needs data.split=image (training images are its references), "
            f"not {d.split}"
        )
    if d.split != "group" and d.val + d.test >= 1:
        found.append(f"data.val + data.test = {d.val + d.test:g} leaves nothing to train on")
    if d.novel_classes and d.split != "image":
        found.append(f"data.novel_classes are held out of an image split, not a {d.split} split")
    if len(i.mean) != i.channels or len(i.std) != i.channels:
        found.append(f"input.mean and input.std need one value per channel ({i.channels})")
    if i.align is not None and (i.channels != 3 or i.height != i.width):
        found.append(f"input.align={i.align} cuts a square RGB chip: it needs channels=3 and height == width")
    if m.pool != "avg" and m.encoder not in POOLED_ENCODERS:
        found.append(
            f"model.pool={m.pool} needs an encoder that takes it ({', '.join(POOLED_ENCODERS)}), "
            f"not model.encoder={m.encoder}"
        )
    return found + _model_problems(cfg)


def _model_problems(cfg: TrainConfig) -> list[str]:
    """The encoder's name and its pretrained weights, checked against their registries (which import torch)."""
    from training.encoders import ENCODERS
    from training.encoders.pretrained import check_pretrained_input, pretrained_weights

    m, i = cfg.model, cfg.input
    if m.encoder not in ENCODERS:
        return [f"model.encoder={m.encoder!r} is not one of {', '.join(ENCODERS)}"]
    if m.pretrained is None:
        return []
    try:
        pretrained_weights(m.encoder, m.pretrained)
        check_pretrained_input(
            encoder=m.encoder, name=m.pretrained, channels=i.channels, mean=i.mean, std=i.std
        )
    except ValueError as exc:
        return [f"model.pretrained: {exc}"]
    return []


def _recipe_problems(data: DataConfig) -> list[str]:
    """data.recipe must name records the loader can read: `folder`, `omniglot`, or a recipe with sources."""
    from training.recipes import RECIPES, SOURCES  # recipes build on this module: imported when checked

    readable = tuple(r for r in RECIPES if r in SOURCES or r in ("folder", "omniglot"))
    if data.recipe in readable:
        return []
    return [
        f"data.recipe={data.recipe!r} names no data this trainer reads; choose one of {', '.join(readable)}"
    ]


def check(cfg: TrainConfig) -> TrainConfig:
    """`cfg` itself, or ConfigError naming everything in it that cannot train as written."""
    found = problems(cfg)
    if found:
        raise ConfigError("the config cannot train as written:\n  - " + "\n  - ".join(found))
    return cfg


_ADAPTER = pydantic.TypeAdapter(TrainConfig)


def from_dict(data: dict[str, Any]) -> TrainConfig:
    """Rebuild a config saved with `to_dict` (e.g. from a checkpoint or a model card), strictly: unknown keys,
    values of the wrong type and combinations `check` refuses are ConfigErrors, never dropped or coerced."""
    try:
        cfg = _ADAPTER.validate_json(json.dumps(data), strict=True)
    except pydantic.ValidationError as exc:
        raise ConfigError(f"bad config: {_explain(exc)}") from exc
    return check(cfg)
