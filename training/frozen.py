"""The pretrained-frozen baseline: an ImageNet trunk's pooled features, with no training, L2-normalized, in the
k-shot nearest-reference search; macro (per-class mean) and micro top-1 per source set.

Run: `python -m training.frozen --recipe bodyparts --recipe defects --data-root ../shared/data --threads 1`
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from modelcard import InputSpec
from training.data.dataset import ImageDataset
from training.data.records import Record
from training.encoders.base import POOLED_CELLS, POOLS, EmbeddingNet, trunk_pooling
from training.encoders.efficientnet import LiteTrunk
from training.encoders.mobilenet import LAST_CHANNELS, mobilenet_v2_features
from training.encoders.pretrained import NORMALIZATION, load_pretrained_trunk
from training.export import export_onnx
from training.heldout import ROUNDS
from training.metrics.identification import kshot_top1, kshot_top1_by_class
from training.metrics.macro import pooled_kshot_by_class
from training.pipeline import OnnxModule
from training.recipes import load_records, make_split, recipe_config
from training.selection import embed

CHUNK = 256  # images preprocessed and embedded at a time (a 224 px RGB array is 0.6 MB)


BACKBONES = ("mobilenet-v2", "efficientnet-lite0", "efficientnet-lite2")


def frozen_backbone(encoder: str, *, size: int, pool: str = "avg") -> tuple[EmbeddingNet, dict[str, Any]]:
    """`encoder`'s ImageNet trunk and `pool` (average, generalized mean at p = 3, or a 2 x 2 grid of averages) at
    size x size: L2-normalized features (1280-d, or 4 x 1280 for the grid); the weights' provenance."""
    trunk = (
        mobilenet_v2_features() if encoder == "mobilenet-v2" else LiteTrunk(encoder, height=size, width=size)
    )
    config = dict(name=f"frozen-{encoder}", in_channels=3, embedding_dim=LAST_CHANNELS * POOLED_CELLS[pool])
    pooled = trunk_pooling(pool, trunk, in_channels=3, height=size, width=size)
    model = EmbeddingNet(trunk, nn.Sequential(pooled, nn.Flatten()), config=config)
    return model.eval(), load_pretrained_trunk(model, encoder=encoder, name="imagenet")


def backbone_spec(encoder: str, *, size: int, resize: str = "stretch") -> InputSpec:
    """The input `encoder`'s ImageNet weights expect, at size x size."""
    mean, std = NORMALIZATION[(encoder, "imagenet")]
    return InputSpec(height=size, width=size, channels=3, mean=mean, std=std, resize=resize)


def as_onnx(model: nn.Module, spec: InputSpec, path: Path, *, threads: int) -> OnnxModule:
    """`model` exported to `path` and run under ONNX Runtime (as the service runs it, and faster on CPU)."""
    export_onnx(model, torch.zeros(2, spec.channels, spec.height, spec.width), path)
    return OnnxModule(path, threads=threads)


def embed_records(model: nn.Module, records: Sequence[Record], spec: InputSpec) -> np.ndarray:
    """Embeddings of `records` in order, preprocessed from `spec` a chunk at a time (bounded memory)."""
    parts = [
        embed(model, ImageDataset(records[s : s + CHUNK], spec, threads=1))
        for s in range(0, len(records), CHUNK)
    ]
    return np.concatenate(parts)


def reference_kshot_by_class(
    ref_emb: np.ndarray,
    ref_labels: np.ndarray,
    probe_emb: np.ndarray,
    probe_labels: np.ndarray,
    *,
    k: int,
    seed: int,
    n_rounds: int,
) -> dict[object, float]:
    """Per class, the share of its probes whose nearest reference is of their class, where each round draws k
    references per class (or all it has) from the reference pool; probes of classes without one are left out
    (`pooled_kshot_by_class` on the pool's classes alone)."""
    keep = np.isin(probe_labels, ref_labels)
    return pooled_kshot_by_class(
        ref_emb, ref_labels, probe_emb[keep], probe_labels[keep], k=k, seed=seed, n_rounds=n_rounds
    )


def figures(by_class: dict[object, float], micro: float) -> dict[str, Any]:
    """{"macro": mean of the per-class figures, "micro": as given, "classes": how many}."""
    return {"macro": float(np.mean(list(by_class.values()))), "micro": micro, "classes": len(by_class)}


def set_figures(
    emb: np.ndarray, labels: np.ndarray, split_of: dict[str, str], sources: list[str], *, k: int, seed: int
) -> dict[str, Any]:
    """One source set: (a) every image, each class enrolled from k of its own; (b) the recipe's validation and
    (c) test images of its trained classes against k references drawn from its training images."""
    by_class = kshot_top1_by_class(emb, labels, k=k, seed=seed, n_rounds=ROUNDS)
    out = {"all_images": figures(by_class, kshot_top1(emb, labels, k=k, seed=seed, n_rounds=ROUNDS))}
    part = np.asarray([split_of.get(s, "") for s in sources])
    train = part == "train"
    for name in ("val", "test"):
        probes = (part == name) & np.isin(labels, labels[train])
        ref = reference_kshot_by_class(
            emb[train], labels[train], emb[probes], labels[probes], k=k, seed=seed, n_rounds=ROUNDS
        )
        hits = sum(v * np.sum(labels[probes] == c) for c, v in ref.items())
        out[f"{name}_vs_train_refs"] = figures(ref, float(hits / probes.sum()))
    return out


def measure(
    recipe: str,
    *,
    data_root: str,
    size: int,
    resize: str,
    k: int,
    threads: int,
    workdir: str,
    backbone: str = "mobilenet-v2",
    pool: str = "avg",
) -> dict[str, Any]:
    """Macro and micro k-shot top-1 of the frozen features, per source set of `recipe`."""
    cfg = recipe_config(recipe)
    data = dataclasses.replace(cfg.data, data_root=data_root)
    records = load_records(data)
    split = make_split(records, data)
    split_of = {r.source: name for name in ("train", "val", "test") for r in getattr(split, name)}
    spec = backbone_spec(backbone, size=size, resize=resize)
    frozen, provenance = frozen_backbone(backbone, size=size, pool=pool)
    model = as_onnx(frozen, spec, Path(workdir) / "frozen.onnx", threads=threads)
    out: dict[str, Any] = {
        "recipe": recipe,
        "backbone": backbone,
        "pool": pool,
        "input": spec.__dict__,
        "k": k,
        "rounds": ROUNDS,
        "sets": {},
    }
    for group in sorted({r.group for r in records}):
        chosen = [r for r in records if r.group == group]
        started = time.monotonic()
        emb = embed_records(model, chosen, spec)
        labels = np.asarray([r.label for r in chosen])
        sources = [r.source for r in chosen]
        out["sets"][group] = {
            **set_figures(emb, labels, split_of, sources, k=k, seed=cfg.eval.seed),
            "images": len(chosen),
            "embed_seconds": round(time.monotonic() - started, 1),
        }
        print(json.dumps({group: out["sets"][group]}), flush=True)
    out["weights"] = provenance
    return out


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--recipe", action="append", choices=("bodyparts", "defects"), required=True)
    p.add_argument("--data-root", default="../shared/data")
    p.add_argument("--backbone", choices=BACKBONES, default="mobilenet-v2")
    p.add_argument("--pool", choices=POOLS, default="avg")
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--resize", choices=("stretch", "center_crop", "pad"), default="stretch")
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as workdir:
        for recipe in args.recipe:
            result = measure(
                recipe,
                data_root=args.data_root,
                size=args.size,
                resize=args.resize,
                k=args.k,
                threads=args.threads,
                workdir=workdir,
                backbone=args.backbone,
                pool=args.pool,
            )
            print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
