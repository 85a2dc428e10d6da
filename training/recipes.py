"""The shipped models' recipes (omniglot, faces, defects, bodyparts) and the generic `folder` recipe.

A recipe is a default `TrainConfig` plus how to read its records from the data root.
"""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

from training.config import DataConfig, EvalConfig, InputConfig, ModelConfig, OptimConfig, TrainConfig
from training.data.augment import AugmentConfig
from training.data.folder import load_folder
from training.data.omniglot import load_omniglot_zip
from training.data.records import Record
from training.data.splits import Split, split_by_class, split_by_group, split_by_image
from training.encoders.dlib_resnet import CHIP, DLIB_MEAN, DLIB_STD
from training.encoders.pretrained import NORMALIZATION

RECIPES = (
    "folder",
    "omniglot",
    "faces",
    "defects",
    "bodyparts",
    "defects-imagenet",
    "defects-160",
    "defects-224",
    "bodyparts-128",
    "bodyparts-224",
    "defects-scratch",
    "bodyparts-scratch",
)

# (sub-folder of the data root, group name) per recipe; "folder" takes its paths from the config.
SOURCES: dict[str, tuple[tuple[str, str], ...]] = {
    "faces": (
        ("faces/celeba", "celeba"),
        ("faces/yaleb", "yaleb"),
        ("faces/orl", "orl"),
        ("faces/lfw", "lfw"),
        ("faces/pins", "pins"),
    ),
    "defects": (("defects/neu", "neu"), ("defects/magnetic_tile", "magnetic_tile")),
    "bodyparts": (("bodyparts/unifesp", "unifesp"), ("bodyparts/mednist", "mednist")),
}


def recipe_config(recipe: str) -> TrainConfig:
    """The default configuration for a recipe."""
    if recipe not in RECIPES:
        raise ValueError(f"unknown recipe {recipe!r}; choose one of {RECIPES}")
    return _BUILDERS[recipe]()


def _folder() -> TrainConfig:
    return TrainConfig(name="model", data=DataConfig(recipe="folder", split="class"))


def _omniglot() -> TrainConfig:
    return TrainConfig(
        name="omniglot",
        data=DataConfig(recipe="omniglot", split="group", val_groups=4, test_groups=4, rotated_classes=True),
        input=InputConfig(height=64, width=64, channels=1, mean=(0.0,), std=(1.0,), invert=True),
        model=ModelConfig(encoder="resnet-small", embedding_dim=128),
        optim=OptimConfig(loss="multi-similarity", p=32, k=4, epochs=40, batches_per_epoch=100, patience=8),
        augment=AugmentConfig(rotation=10.0, shear=0.3, scale=(0.85, 1.15), translate=0.1),
        # identify scores a character by its centroid: FNIR at FPIR 1 %, 10 x 5 on validation, 69.4 -> 50.6 %
        eval=EvalConfig(
            select="nway",
            n_way=20,
            k_shot=1,
            within_group=True,
            n_tasks=400,
            kshot=1,
            identify_statistic="centroid",
        ),
    )


def _faces() -> TrainConfig:
    return TrainConfig(
        name="faces",
        data=DataConfig(recipe="faces", split="class", val=0.15, test=0.15),
        # dlib's face network on its own 5-point chips (150 px, padding 0.25), its input normalization
        # dark chips (harsh side light) are lifted by a gamma: Yale B 5-shot on validation 92.2 -> 96.1 %
        input=InputConfig(
            height=CHIP, width=CHIP, channels=3, mean=DLIB_MEAN, std=DLIB_STD, align="face5", brighten=0.45
        ),
        model=ModelConfig(encoder="dlib-resnet", embedding_dim=128, pretrained="dlib-face"),
        # fine-tuning a network trained on ~3M faces: a low learning rate, few epochs
        optim=OptimConfig(
            loss="multi-similarity",
            lr=2e-5,
            min_lr=1e-6,
            weight_decay=1e-4,
            p=16,
            k=4,
            epochs=10,
            batches_per_epoch=60,
            patience=3,
            wise_alpha=0.5,  # half fine-tuned, half as it shipped: the best balance on validation (README)
        ),
        # the chips are aligned already: small geometric jitter; strong light changes for Yale B's side light
        augment=AugmentConfig(
            rotation=5.0,
            shear=0.05,
            scale=(0.95, 1.05),
            translate=0.03,
            hflip=True,
            crop_jitter=0.05,
            brightness=0.3,
            contrast=0.3,
            shading=0.8,
            grey=0.2,
        ),
        # identify scores an identity by its centroid: FNIR at FPIR 1 %, 50 validation identities, 25 -> 17 %
        eval=EvalConfig(select="verification_auc", kshot=5, n_way=5, k_shot=1, identify_statistic="centroid"),
    )


def _image_split(name: str, novel: tuple[str, ...], size: int) -> TrainConfig:
    return TrainConfig(
        name=name,
        data=DataConfig(recipe=name, split="image", val=0.15, test=0.3, novel_classes=novel),
        input=InputConfig(height=size, width=size, channels=1, mean=(0.5,), std=(0.5,)),
        model=ModelConfig(encoder="resnet-small", embedding_dim=128),
        optim=OptimConfig(loss="multi-similarity", p=8, k=8, epochs=30, batches_per_epoch=60, patience=6),
        augment=AugmentConfig(
            rotation=10.0,
            shear=0.1,
            scale=(0.9, 1.1),
            translate=0.06,
            hflip=True,
            brightness=0.2,
            contrast=0.2,
        ),
        # identify scores a class by its centroid, with thresholds from validation galleries of 3 to 10 classes
        eval=EvalConfig(
            select="kshot_top1",
            kshot=5,
            n_way=5,
            k_shot=5,
            identify_statistic="centroid",
            gallery_sizes=(3, 6, 10),
        ),
    )


def _defects_scratch() -> TrainConfig:
    """The previous defects model's recipe. 96 px and generalized-mean pooling: a crack or a blowhole covers a few pixels of a magnetic tile, and
    average pooling over the whole map dilutes it (64 px with average pooling: 50 % 5-shot on the tiles)."""
    cfg = _image_split("defects", ("neu/pitted_surface",), 96)
    return dataclasses.replace(
        cfg,
        # The shipped defects models descend from one trained while `uneven` was held out as well; adding it
        # reshuffles the steel classes, so val and test leave out what that split trained on.
        data=dataclasses.replace(
            cfg.data, ancestor_novel_classes=("neu/pitted_surface", "magnetic_tile/uneven")
        ),
        model=dataclasses.replace(cfg.model, pool="gem"),
        optim=dataclasses.replace(cfg.optim, epochs=80, patience=15),
        augment=dataclasses.replace(cfg.augment, vflip=True),
    )


# the 224 px cycles' lengths: what a 65-minute budget planned on one CPU thread (the shipped runs stopped after epochs
# 8 and 9 of them, the best being epoch 6 in both)
BODYPARTS_224_EPOCHS = 10
DEFECTS_224_EPOCHS = 10
# the 256 px cycle: 5 epochs at half the rate (what a 50-minute budget gave on one CPU thread beside other work)
BODYPARTS_256_EPOCHS = 5
BODYPARTS_256_LR = 1.5e-4


def _bodyparts_scratch() -> TrainConfig:
    """The previous bodyparts model: resnet-small from scratch on 64 px grey images."""
    return _image_split("bodyparts", ("unifesp/Shoulder", "mednist/BreastMRI"), 64)


def _bodyparts_128() -> TrainConfig:
    """The shipped bodyparts model's first stage (the model shipped before): MobileNetV2 from ImageNet,
    fine-tuned at 128 px for 10 epochs (what 24 minutes on one CPU thread gave), exported under runs/ only."""
    cfg = imagenet_finetune(_bodyparts_scratch(), size=128)
    return dataclasses.replace(
        cfg, name="bodyparts-128", out_dir="runs", optim=dataclasses.replace(cfg.optim, epochs=10)
    )


def _bodyparts_224() -> TrainConfig:
    """The shipped bodyparts model's second stage (the model shipped before): the first stage's best epoch
    (`bodyparts-128`, which must have run) at 224 px for a second cycle, exported under runs/ only."""
    return higher_resolution_cycle(
        _bodyparts_128(), name="bodyparts-224", size=224, epochs=BODYPARTS_224_EPOCHS, out_dir="runs"
    )


def _bodyparts() -> TrainConfig:
    """The shipped bodyparts model: the second stage's best epoch (`bodyparts-224`, which must have run) at
    256 px (the X-rays' longer side) for a third cycle at half the rate."""
    return higher_resolution_cycle(
        _bodyparts_224(), name="bodyparts", size=256, epochs=BODYPARTS_256_EPOCHS, lr=BODYPARTS_256_LR
    )


def higher_resolution_cycle(
    first: TrainConfig, *, name: str, size: int, epochs: int, out_dir: str = "models", lr: float = 3e-4
) -> TrainConfig:
    """`next_cycle` at size x size (the convolutions do not depend on the input size), every epoch allowed
    (patience = epochs), exported to `out_dir` (models/: the shipped stage)."""
    cfg = next_cycle(first, name=name, out_dir=out_dir, epochs=epochs, patience=epochs, lr=lr)
    return dataclasses.replace(cfg, input=dataclasses.replace(first.input, height=size, width=size))


def next_cycle(
    first: TrainConfig, *, name: str, out_dir: str, epochs: int, patience: int, lr: float = 3e-4
) -> TrainConfig:
    """A further cosine cycle from `first`'s best epoch: lr `lr` (3e-4 unless given), no warm-up and nothing
    frozen, the trunk at 0.3 x the head's rate."""
    return dataclasses.replace(
        first,
        name=name,
        out_dir=out_dir,
        init_from=f"{first.run_dir}/{first.name}/best.pt",
        optim=dataclasses.replace(
            first.optim,
            lr=lr,
            warmup_epochs=0,
            freeze_epochs=0,
            trunk_lr_mult=0.3,
            patience=patience,
            epochs=epochs,
        ),
    )


def imagenet_finetune(cfg: TrainConfig, *, size: int, encoder: str = "mobilenet-v2") -> TrainConfig:
    """`cfg` on `encoder`'s ImageNet trunk at size x size (grey as three equal channels, the weights' own
    mean/std): two epochs with the trunk frozen, then the trunk at a tenth of the head's rate; epochs chosen on
    the macro validation figure, held-out classes included."""
    mean, std = NORMALIZATION[(encoder, "imagenet")]
    return dataclasses.replace(
        cfg,
        input=InputConfig(height=size, width=size, channels=3, mean=mean, std=std),
        model=ModelConfig(encoder=encoder, embedding_dim=128, pretrained="imagenet"),
        optim=dataclasses.replace(
            cfg.optim,
            lr=1e-3,
            min_lr=1e-5,
            epochs=30,
            batches_per_epoch=40,
            patience=6,
            freeze_epochs=2,
            trunk_lr_mult=0.1,
        ),
        eval=dataclasses.replace(cfg.eval, select="kshot_macro"),
    )


def _defects_imagenet() -> TrainConfig:
    """The shipped defects model's first stage: MobileNetV2 from ImageNet at 160 px for 9 epochs (what 30 minutes
    on one CPU thread gave), exported under runs/ only."""
    cfg = imagenet_finetune(_defects_scratch(), size=160)
    return dataclasses.replace(
        cfg, name="defects-imagenet", out_dir="runs", optim=dataclasses.replace(cfg.optim, epochs=9)
    )


def _defects_224() -> TrainConfig:
    """The shipped defects model's third stage (the model shipped before): the second stage's best epoch
    (`defects-160`, which must have run) at 224 px for a third cycle (`higher_resolution_cycle`), under runs/."""
    return higher_resolution_cycle(
        _defects_160(), name="defects-224", size=224, epochs=DEFECTS_224_EPOCHS, out_dir="runs"
    )


def _defects() -> TrainConfig:
    """The shipped defects model: a refit of the third stage's best epoch (`defects-224`, which must have run),
    once the held-out steel type had chosen the recipe: `pitted_surface`'s validation half trains too
    (`data.train_novel_val`; its test half stays held out), a 5-epoch cosine at half the rate."""
    cfg = next_cycle(_defects_224(), name="defects", out_dir="models", epochs=5, patience=5, lr=1.5e-4)
    return dataclasses.replace(
        cfg,
        data=dataclasses.replace(cfg.data, train_novel_val=True),
        # 11 validation classes: a gallery of G needs G strangers beside it, so 6 and 10 no longer fit
        eval=dataclasses.replace(cfg.eval, gallery_sizes=(3, 5)),
    )


def _defects_160() -> TrainConfig:
    """The shipped defects model's second stage (the model shipped before): `next_cycle` from the first
    stage's best epoch (`defects-imagenet`, which must have run), 12 epochs, exported under runs/ only."""
    return next_cycle(_defects_imagenet(), name="defects-160", out_dir="runs", epochs=12, patience=15)


_BUILDERS = {
    "folder": _folder,
    "omniglot": _omniglot,
    "faces": _faces,
    "defects": _defects,
    "bodyparts": _bodyparts,
    "defects-imagenet": _defects_imagenet,
    "defects-160": _defects_160,
    "defects-224": _defects_224,
    "bodyparts-128": _bodyparts_128,
    "bodyparts-224": _bodyparts_224,
    "defects-scratch": _defects_scratch,
    "bodyparts-scratch": _bodyparts_scratch,
}


def _resolve(root: str, path: str) -> Path:
    p = Path(path)
    return p if p.is_absolute() else Path(root) / p


def load_records(data: DataConfig) -> list[Record]:
    """Read every record a data config names."""
    if data.recipe == "omniglot":
        return load_omniglot_zip(_resolve(data.data_root, "omniglot/images_background.zip"))
    if data.recipe == "folder":
        if not data.paths:
            raise ValueError("the folder recipe needs at least one path (--data PATH)")
        many = len(data.paths) > 1
        return [r for p in data.paths for r in load_folder(Path(p), group=Path(p).name if many else "")]
    return [
        r
        for sub, group in SOURCES[data.recipe]
        for r in load_folder(_resolve(data.data_root, sub), group=group)
    ]


def _split_novel(records: list[Record], novel: tuple[str, ...], seed: int) -> tuple[list[Record], Split]:
    """Hold out whole classes: alternately into val and test (shuffled, seeded).

    A single held-out class has its images split half and half between val and test instead, so the
    test split still measures a class that training never saw.
    """
    unknown = sorted(set(novel) - {r.label for r in records})
    if unknown:
        raise ValueError(f"novel classes not in the data: {unknown}")
    rest = [r for r in records if r.label not in novel]
    if len(novel) == 1:
        held = [i for i, r in enumerate(records) if r.label in novel]
        random.Random(seed).shuffle(held)
        to_val = set(held[: len(held) // 2])
        return rest, Split(
            train=[],
            val=[records[i] for i in sorted(to_val)],
            test=[records[i] for i in sorted(set(held) - to_val)],
        )
    order = list(novel)
    random.Random(seed).shuffle(order)
    val_classes, test_classes = set(order[0::2]), set(order[1::2])
    return rest, Split(
        train=[],
        val=[r for r in records if r.label in val_classes],
        test=[r for r in records if r.label in test_classes],
    )


def make_split(records: list[Record], data: DataConfig) -> Split:
    """Split records as the data config says (seeded), leaving out of val and test whatever an ancestor's
    split (`data.ancestor_novel_classes`) trained on."""
    split = _split(records, data)
    if data.ancestor_novel_classes is None:
        return split
    ancestor = dataclasses.replace(
        data, novel_classes=data.ancestor_novel_classes, ancestor_novel_classes=None, train_novel_val=False
    )
    seen = set(_split(records, ancestor).train)
    return Split(
        train=split.train,
        val=[r for r in split.val if r not in seen],
        test=[r for r in split.test if r not in seen],
    )


def _split(records: list[Record], data: DataConfig) -> Split:
    if data.split == "group":
        return split_by_group(
            records, val_groups=data.val_groups, test_groups=data.test_groups, seed=data.seed
        )
    if data.split == "class":
        return split_by_class(records, val=data.val, test=data.test, seed=data.seed)
    if data.split != "image":
        raise ValueError(f"unknown split {data.split!r}; choose class, image or group")
    rest, novel = _split_novel(records, data.novel_classes, data.seed)
    base = split_by_image(rest, val=data.val, test=data.test, seed=data.seed, min_train=2)
    if data.train_novel_val:
        return Split(train=base.train + novel.val, val=base.val, test=base.test + novel.test)
    return Split(train=base.train, val=base.val + novel.val, test=base.test + novel.test)
