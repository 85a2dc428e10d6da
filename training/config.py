"""Training configuration: frozen dataclasses composed into one `TrainConfig`, with typed `key=value` overrides.

Each component owns its defaults; recipes (`training/recipes.py`) start from these and change what their domain needs.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from typing import Any

from training.data.augment import AugmentConfig


@dataclass(frozen=True)
class DataConfig:
    """Where the images come from and how they are split (seeded; written into the model card)."""

    recipe: str = "folder"  # folder | omniglot | faces | defects | bodyparts
    paths: tuple[
        str, ...
    ] = ()  # class-per-folder roots (recipe "folder"), relative to data_root unless absolute
    data_root: str = "../shared/data"
    split: str = "class"  # class | image | group
    val: float = 0.15
    test: float = 0.15
    val_groups: int = 4
    test_groups: int = 4
    novel_classes: tuple[str, ...] = ()  # classes held out entirely (val/test) on an image split
    # A warm start whose ancestor was split with other novel classes (and the same seed, fractions and data):
    # the images that split trained on are dropped from val and test, so nothing the weights have seen is
    # measured (None: no such ancestor).
    ancestor_novel_classes: tuple[str, ...] | None = None
    rotated_classes: bool = False  # add training classes turned by 90/180/270 degrees as new classes
    seed: int = 0


@dataclass(frozen=True)
class InputConfig:
    """The encoder's input; becomes the card's `input` block."""

    height: int = 64
    width: int = 64
    channels: int = 1
    mean: tuple[float, ...] = (0.5,)
    std: tuple[float, ...] = (0.5,)
    resize: str = "stretch"
    invert: bool = False
    # "face5": faces detected and aligned onto a height x width chip before preprocessing (modelcard.align),
    # with dlib's packaged 5-point landmarks; the card then ships them as <name>.landmarks.dat.
    align: str | None = None
    brighten: float | None = None  # lift dark images' mean to this by a gamma (modelcard.preprocess.brighten)


@dataclass(frozen=True)
class ModelConfig:
    encoder: str = "resnet-small"
    embedding_dim: int = 128
    base_width: int = 32  # resnet-small: channels of the first stage
    stem_stride: int = 0  # resnet-small: 0 = automatic, else 1, 2 or 4 (stride-2 conv + max-pool)
    pool: str = "avg"  # resnet-small: avg (global average) | gem (generalized mean: small details weigh more)
    width_mult: float = 0.5  # koch: channel multiplier on Koch et al.'s 64-128-128-256
    # Trunk weights from a package (training/encoders/pretrained.py), e.g. "imagenet" for mobilenet-v2; needs
    # 3 input channels and ImageNet mean/std (grey images go in as three equal channels). None: random init.
    pretrained: str | None = None


@dataclass(frozen=True)
class OptimConfig:
    loss: str = "multi-similarity"
    sampler: str = "pk"  # pk (P classes x K images) | pairs (balanced same/different pairs; contrastive only)
    margin: float | None = None
    lr: float = 1e-3
    min_lr: float = 1e-5
    weight_decay: float = 5e-4
    epochs: int = 30
    warmup_epochs: int = 1
    p: int = 16
    k: int = 4
    batches_per_epoch: int = 100
    group_batches: bool = False  # each P x K batch from one group (source set) where it can: harder negatives
    patience: int = 6  # epochs without validation improvement before stopping
    # Fine-tuning a pretrained trunk (training/finetune.py): the first freeze_epochs train the head alone, then
    # the trunk learns at trunk_lr_mult x the scheduled rate (1.0 and 0: one rate for all, nothing frozen).
    freeze_epochs: int = 0
    trunk_lr_mult: float = 1.0
    # With model.pretrained: the exported weights are (1 - wise_alpha) x pretrained + wise_alpha x the best
    # epoch's (training/wise.py); None exports the best epoch's weights as they are.
    wise_alpha: float | None = None
    time_budget_min: float | None = None  # stop (keeping the best checkpoint) after this many minutes


@dataclass(frozen=True)
class EvalConfig:
    # validation metric for model selection: nway | kshot_top1 | kshot_macro | verification_auc
    # (kshot_macro: the per-class mean over every validation class, novel ones enrolled from their own images)
    select: str = "kshot_top1"
    n_way: int = 20
    k_shot: int = 1
    within_group: bool = False  # n-way tasks drawn within one group (Lake's within-alphabet runs)
    n_tasks: int = 400
    kshot: int = 5  # references per class for closed-set / open-set identification
    target_far: float = 0.01
    # identify's thresholds by gallery size, tuned on validation galleries of G identities x k references
    # (training/evaluation/galleries.py): the default false-positive identification rate (None: the one of
    # `fpirs` with the best balanced open-set accuracy on validation), the rates the card holds rows for (a
    # service setting picks among them), the G and k measured (a G is measured while at least as many
    # validation classes are left as strangers), galleries per (G, k)
    target_fpir: float | None = None
    identify_statistic: str = (
        "nearest"  # nearest | centroid: how identify scores an identity (the card records it)
    )
    fpirs: tuple[float, ...] = (0.001, 0.01, 0.05, 0.1)
    gallery_sizes: tuple[int, ...] = (10, 30, 100, 300)
    gallery_ks: tuple[int, ...] = (1, 5)
    gallery_rounds: int = 20
    n_pairs: int = 6000
    pairs_within_group: bool = (
        False  # impostor pairs from the same group (source set), as a deployment sees them
    )
    seed: int = 1


@dataclass(frozen=True)
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
    device: str = "auto"  # auto | cpu | cuda
    threads: int = 0  # torch intra-op threads; 0 = torch's default
    init_from: str | None = None  # warm start: encoder weights from this checkpoint (same architecture)
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


def _coerce(value: str, annotation: Any) -> Any:
    """Parse a CLI string into the field's declared type."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value.lower() in ("none", "null"):
            return None
        return _coerce(value, next(a for a in args if a is not type(None)))
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

    Unknown keys are errors, and values are parsed to the declared type.
    """
    head, _, rest = key.partition(".")
    hints = _hints(cfg)
    if head not in hints:
        known = ", ".join(sorted(hints))
        raise ValueError(f"unknown config key {head!r} in {key!r}; known: {known}")
    if rest:
        return dataclasses.replace(cfg, **{head: override(getattr(cfg, head), rest, value)})
    if dataclasses.is_dataclass(hints[head]):
        raise ValueError(f"{key!r} is a section; set one of its fields, e.g. {key}.<field>=...")
    try:
        return dataclasses.replace(cfg, **{head: _coerce(value, hints[head])})
    except (TypeError, ValueError) as exc:
        raise ValueError(f"bad value for {key!r}: {exc}") from exc


def apply_overrides(cfg: TrainConfig, pairs: list[str]) -> TrainConfig:
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ValueError(f"override {pair!r} must look like key=value")
        cfg = override(cfg, key.strip(), value.strip())
    return cfg


def from_dict(data: dict[str, Any]) -> TrainConfig:
    """Rebuild a config saved with `to_dict` (e.g. from a checkpoint)."""
    sections = {
        "data": DataConfig,
        "input": InputConfig,
        "model": ModelConfig,
        "optim": OptimConfig,
        "augment": AugmentConfig,
        "eval": EvalConfig,
    }
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key in sections:
            cls = sections[key]
            hints = typing.get_type_hints(cls)
            fixed = {k: tuple(v) if isinstance(v, list) else v for k, v in value.items() if k in hints}
            kwargs[key] = cls(**fixed)
        elif key in typing.get_type_hints(TrainConfig):
            kwargs[key] = value
    return TrainConfig(**kwargs)
