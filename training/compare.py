"""Validation figures of encoders on one recipe's split, to choose between them without touching the test split:
the macro selection figure (kshot_macro) and macro / micro k-shot top-1 per source set, val images vs training refs;
every encoder after the first also gets its difference from the first in kshot_macro, with a 95 % paired bootstrap
interval over the same probes (`vs_first`). With `--flip-average`, each encoder is scored again under flip averaging
(`training.flips`) after its plain entry; with `--scale-average S`, again averaged with itself at S px
(`training.scales`); with `--with-frozen W`, again beside the frozen ImageNet trunk at its own
input size, that trunk's embedding weighted W (`training.concat`).

Run: `python -m training.compare --recipe bodyparts --onnx models/bodyparts.onnx --frozen 224 \
--checkpoint runs/bodyparts/best.pt --threads 1`
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from modelcard import InputSpec, load_card
from training.concat import Concatenated
from training.config import apply_overrides
from training.data.splits import Split
from training.flips import FLIPS, FlipAverage
from training.frozen import as_onnx, backbone_spec, embed_records, frozen_backbone
from training.heldout import ROUNDS, per_set_figures
from training.metrics.macro import macro_micro, pooled_kshot_hits
from training.metrics.paired import macro_difference, per_probe
from training.pipeline import OnnxModule
from training.recipes import load_records, make_split, recipe_config
from training.scales import ScaleAverage
from training.train import input_spec, model_from_checkpoint


def validation_figures(
    model: nn.Module, spec: InputSpec, split: Split, *, k: int, seed: int
) -> dict[str, Any]:
    """The selection figure (every validation class, novel ones enrolled from their own images, against k
    training references of every trained class) and the per-set figures, on validation images; `scores`: each
    class's per-probe hit rates over the enrolments behind the selection figure (for `macro_difference`)."""
    ref_emb, val_emb = embed_records(model, split.train, spec), embed_records(model, split.val, spec)
    ref_labels = np.asarray([r.label for r in split.train])
    val_labels = np.asarray([r.label for r in split.val])
    hits = pooled_kshot_hits(ref_emb, ref_labels, val_emb, val_labels, k=k, seed=seed, n_rounds=ROUNDS)
    groups = (np.asarray([r.group for r in split.train]), np.asarray([r.group for r in split.val]))
    return {
        "kshot_macro": macro_micro(hits)["macro"],
        "scores": per_probe(hits, rounds=ROUNDS),
        "by_set": per_set_figures(
            ref_emb, ref_labels, groups[0], val_emb, val_labels, groups[1], k=k, seed=seed
        ),
    }


def encoders(args: argparse.Namespace, workdir: str) -> list[tuple[str, nn.Module, InputSpec]]:
    """(name, model, input spec) of every encoder the command line names."""
    out: list[tuple[str, nn.Module, InputSpec]] = []
    for path in args.onnx:
        out.append(
            (
                path,
                OnnxModule(Path(path), threads=args.threads),
                load_card(Path(path).with_suffix(".json")).input,
            )
        )
    for size in args.frozen:
        spec = backbone_spec("mobilenet-v2", size=size)
        out.append(
            (f"frozen MobileNetV2 {size} px", frozen_onnx(spec, Path(workdir), threads=args.threads), spec)
        )
    for path in args.checkpoint:
        model, cfg, _ = model_from_checkpoint(Path(path))
        out.append((path, model, input_spec(cfg)))
    return out


def frozen_beside(spec: InputSpec, workdir: Path, *, threads: int) -> nn.Module:
    """The frozen MobileNetV2 trunk for an encoder of input `spec`, which must be what the trunk's weights
    expect at that size (three channels, ImageNet's mean and std), or ValueError."""
    want = backbone_spec("mobilenet-v2", size=spec.height, resize=spec.resize)
    same = (spec.channels, tuple(spec.mean), tuple(spec.std)) == (want.channels, want.mean, want.std)
    plain = not (spec.invert or spec.align or spec.brighten)  # the trunk sees the image as it is
    if spec.width != spec.height or not same or not plain:
        raise ValueError(f"the frozen trunk takes {want}; this encoder takes {spec}")
    return frozen_onnx(want, workdir, threads=threads)


def frozen_onnx(spec: InputSpec, workdir: Path, *, threads: int) -> nn.Module:
    """The frozen MobileNetV2 trunk at `spec`'s size, under ONNX Runtime (exported once per size into `workdir`)."""
    path = workdir / f"frozen{spec.height}.onnx"
    if not path.exists():
        export = frozen_backbone("mobilenet-v2", size=spec.height)[0]
        return as_onnx(export, spec, path, threads=threads)
    return OnnxModule(path, threads=threads)


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--recipe", required=True)
    p.add_argument("--data-root", default="../shared/data")
    p.add_argument("--onnx", action="append", default=[], help="a shipped model (its card beside it)")
    p.add_argument(
        "--frozen", action="append", type=int, default=[], help="frozen ImageNet trunk at this size"
    )
    p.add_argument("--checkpoint", action="append", default=[], help="a training checkpoint")
    p.add_argument(
        "--resize",
        choices=("stretch", "center_crop", "pad"),
        help="score every encoder with this resize instead of its own (e.g. pad: keep the aspect ratio)",
    )
    p.add_argument(
        "--flip-average",
        action="append",
        choices=sorted(FLIPS),
        default=[],
        help="also score each encoder averaged over its image's flips (h: left-right; hv: every mirror)",
    )
    p.add_argument(
        "--scale-average",
        action="append",
        type=lambda text: tuple(int(s) for s in text.split(",")),
        default=[],
        metavar="S[,S...]",
        help="also score each checkpoint averaged with itself on its input resized to these sizes (px)",
    )
    p.add_argument(
        "--with-frozen",
        action="append",
        type=float,
        default=[],
        metavar="W",
        help="also score each encoder beside the frozen MobileNetV2 trunk at its input size, that one weighted W",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="change the recipe's split or evaluation first, e.g. data.train_novel_val=true (a refit's validation)",
    )
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    if args.scale_average and (args.onnx or args.frozen):
        p.error(
            "--scale-average resizes inside the encoder's input: an ONNX model takes one size (--checkpoint only)"
        )
    torch.set_num_threads(args.threads)
    cfg = apply_overrides(recipe_config(args.recipe), args.set)
    data = dataclasses.replace(cfg.data, data_root=args.data_root)
    split = make_split(load_records(data), data)
    first = None
    with tempfile.TemporaryDirectory() as workdir:
        for name, plain, spec in encoders(args, workdir):
            if args.resize is not None:
                spec = dataclasses.replace(spec, resize=args.resize)
            variants = [(plain, {})]
            variants += [(FlipAverage(plain, f).eval(), {"flip_average": f}) for f in args.flip_average]
            variants += [
                (ScaleAverage(plain, sizes).eval(), {"scale_average": list(sizes)})
                for sizes in args.scale_average
            ]
            if args.with_frozen:
                frozen = frozen_beside(spec, Path(workdir), threads=args.threads)
                variants += [(Concatenated(plain, frozen, w), {"with_frozen": w}) for w in args.with_frozen]
            for model, variant in variants:
                figures = validation_figures(model, spec, split, k=cfg.eval.kshot, seed=cfg.eval.seed)
                scores = figures.pop("scores")
                record = {
                    "encoder": name,
                    "resize": spec.resize,
                    "flip_average": None,
                    "scale_average": None,
                    "with_frozen": None,
                }
                record |= variant | {"rounds": ROUNDS}
                record.update(figures)
                if first is None:
                    first = scores
                else:
                    record["vs_first"] = macro_difference(scores, first, seed=cfg.eval.seed)
                print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
