"""WiSE-FT on validation: a fine-tuned checkpoint averaged with its pretrained weights (`optim.wise_alpha`, the
entries those weights set) per alpha and batch-norm treatment, scored as `training.compare` scores encoders
(kshot_macro and per source set), each against the fine-tune alone with a paired bootstrap over the probes.

Run: `nice -n 10 python -m training.wise_sweep --checkpoint checkpoints/bodyparts.pt --alpha 0.5 --alpha 0.7
--alpha 0.85 --batchnorm interpolate --batchnorm finetuned --batchnorm recompute --threads 1`
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from modelcard import InputSpec
from training.config import TrainConfig, WiseBatchNorm, apply_overrides
from training.data.splits import Split
from training.encoders import build_encoder
from training.frozen import as_onnx, embed_records
from training.heldout import ROUNDS, per_set_figures
from training.metrics.macro import macro_micro, pooled_kshot_hits
from training.metrics.paired import macro_difference, per_probe
from training.pipeline import with_pretrained_ensemble
from training.recipes import load_records, make_split
from training.train import input_spec, load_checkpoint

FINETUNED = (1.0, "interpolate")  # alpha 1 with nothing re-estimated: the checkpoint as it is


def variants(alphas: Sequence[float], batchnorms: Sequence[str]) -> list[tuple[float, str]]:
    """(alpha, batch-norm treatment) pairs to measure: the fine-tune alone first, then every alpha below 1
    under every treatment, then alpha 1 with re-estimated statistics when "recompute" is asked (what the
    re-estimation alone does)."""
    out = [FINETUNED]
    out += [(a, b) for a in sorted(set(alphas), reverse=True) if a < 1 for b in batchnorms]
    return out + ([(1.0, "recompute")] if "recompute" in batchnorms else [])


def wise_variant(
    cfg: TrainConfig, state: dict[str, Any], split: Split, *, alpha: float, batchnorm: WiseBatchNorm
) -> nn.Module:
    """The checkpoint's model as the pipeline would export it with `optim.wise_alpha=alpha` and
    `optim.wise_batchnorm=batchnorm` (as it is for the fine-tune alone)."""
    model = build_encoder(**json.loads(state["model_config_json"]))
    model.load_state_dict(state["model"])
    if (alpha, batchnorm) == FINETUNED:
        return model.eval()
    cfg = apply_overrides(cfg, [f"optim.wise_alpha={alpha:g}", f"optim.wise_batchnorm={batchnorm}"])
    return with_pretrained_ensemble(cfg, model, split)


def validation_scores(
    model: nn.Module, spec: InputSpec, split: Split, *, k: int, seed: int, onnx: Path, threads: int
) -> tuple[dict[str, Any], dict[object, np.ndarray]]:
    """(the figures, each validation class's per-probe scores): kshot_macro (every validation class, novel ones
    enrolled from their own images, against k training references of every trained class) and the per-set
    figures, the model run under ONNX Runtime."""
    runner = as_onnx(model, spec, onnx, threads=threads)
    ref_emb, val_emb = embed_records(runner, split.train, spec), embed_records(runner, split.val, spec)
    ref_labels = np.asarray([r.label for r in split.train])
    val_labels = np.asarray([r.label for r in split.val])
    hits = pooled_kshot_hits(ref_emb, ref_labels, val_emb, val_labels, k=k, seed=seed, n_rounds=ROUNDS)
    ref_groups = np.asarray([r.group for r in split.train])
    val_groups = np.asarray([r.group for r in split.val])
    by_set = per_set_figures(ref_emb, ref_labels, ref_groups, val_emb, val_labels, val_groups, k=k, seed=seed)
    return {"kshot_macro": macro_micro(hits)["macro"], "by_set": by_set}, per_probe(hits, rounds=ROUNDS)


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--checkpoint", required=True, help="a fine-tuned checkpoint of a recipe with model.pretrained"
    )
    p.add_argument("--alpha", action="append", type=float, default=[], help="weight of the fine-tuned model")
    p.add_argument(
        "--batchnorm", action="append", default=[], choices=("interpolate", "finetuned", "recompute")
    )
    p.add_argument("--data-root", default=None, help="default: the checkpoint's data.data_root")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    state = load_checkpoint(Path(args.checkpoint))
    cfg = state["config"]
    if args.data_root is not None:
        cfg = apply_overrides(cfg, [f"data.data_root={args.data_root}"])
    split = make_split(load_records(cfg.data), cfg.data)
    spec, k, seed = input_spec(cfg), cfg.eval.kshot, cfg.eval.seed
    baseline = None
    with tempfile.TemporaryDirectory() as workdir:
        for alpha, batchnorm in variants(args.alpha, args.batchnorm or ["interpolate"]):
            with contextlib.redirect_stdout(sys.stderr):  # stdout holds the JSON lines alone
                model = wise_variant(cfg, state, split, alpha=alpha, batchnorm=batchnorm)
            onnx = Path(workdir) / "variant.onnx"
            figures, scores = validation_scores(
                model, spec, split, k=k, seed=seed, onnx=onnx, threads=args.threads
            )
            baseline = scores if baseline is None else baseline
            row = {"alpha": alpha, "batchnorm": batchnorm, "rounds": ROUNDS, **figures}
            row["vs_finetuned"] = macro_difference(scores, baseline, seed=seed)
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
