"""Command line: `python -m training train|evaluate|export|config ...` (each has its own --help)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import typing
from pathlib import Path

from training.config import Loss, TrainConfig, apply_overrides, check
from training.encoders import ENCODERS
from training.recipes import RECIPES, recipe_config

EPILOG = """\
Examples:
  # your own data: one folder per class (any image format Pillow reads); writes models/parts.{onnx,json}
  python -m training train --data ~/photos/parts --name parts
  # a shipped model, from the datasets under $SG_DATA_ROOT (default ../shared/data)
  python -m training train --recipe omniglot
  # change any config field; `python -m training config --recipe faces` prints them all
  python -m training train --recipe faces --set optim.loss=triplet-batchhard --set optim.epochs=10
"""


def _config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--recipe",
        choices=RECIPES,
        default=None,
        help="start from a shipped model's recipe (default: 'folder', or the recipe of --name if it is one)",
    )
    p.add_argument(
        "--data",
        action="append",
        default=[],
        metavar="PATH",
        help="a class-per-folder dataset (<PATH>/<class>/<image>); repeat to combine several folders",
    )
    p.add_argument(
        "--data-root",
        default=None,
        help="root of the shipped datasets (default: $SG_DATA_ROOT or ../shared/data)",
    )
    p.add_argument("--name", default=None, help="model name: writes <out>/<name>.onnx, .json and .report/")
    p.add_argument(
        "--split",
        choices=("class", "image", "group"),
        default=None,
        help="class: val/test identities unseen in training (few-shot); image: images of each class "
        "split; group: whole groups (e.g. Omniglot alphabets) held out",
    )
    p.add_argument(
        "--encoder",
        choices=ENCODERS,
        default=None,
        help="the embedding network",
    )
    p.add_argument(
        "--loss",
        choices=typing.get_args(Loss),
        default=None,
        help="the metric-learning loss (contrastive is the only one the pairs sampler trains)",
    )
    p.add_argument("--size", type=int, default=None, help="input height and width in pixels")
    p.add_argument("--channels", type=int, choices=(1, 3), default=None, help="1 = grey, 3 = RGB")
    p.add_argument("--embedding-dim", type=int, default=None, help="embedding size (default 128)")
    p.add_argument("--epochs", type=int, default=None, help="maximum epochs (early stopping may end sooner)")
    p.add_argument(
        "--time-budget",
        type=float,
        default=None,
        metavar="MIN",
        help="stop after this many minutes of training, keeping the best checkpoint",
    )
    p.add_argument(
        "--target-far",
        type=float,
        default=None,
        help="false-accept rate the threshold is tuned for on validation identities (default 0.01)",
    )
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default=None, help="where to train")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (0 = default)")
    p.add_argument("--out", default=None, help="output folder for the .onnx/.json/.report (default models)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set any config field by its dotted name, e.g. optim.lr=3e-4 (unknown keys are errors)",
    )


def resolve_config(args: argparse.Namespace, environ: dict[str, str]) -> TrainConfig:
    """The recipe's config with the flags and `--set`s applied, checked whole (`training.config.check`)
    before anything is loaded or trained."""
    recipe = args.recipe or (args.name if args.name in RECIPES and not args.data else "folder")
    cfg = recipe_config(recipe)
    pairs = []
    root = args.data_root or environ.get("SG_DATA_ROOT")
    simple = {
        "data.data_root": root,
        "name": args.name,
        "data.split": args.split,
        "model.encoder": args.encoder,
        "optim.loss": args.loss,
        "input.channels": args.channels,
        "model.embedding_dim": args.embedding_dim,
        "optim.epochs": args.epochs,
        "optim.time_budget_min": args.time_budget,
        "eval.target_far": args.target_far,
        "device": args.device,
        "threads": args.threads,
        "out_dir": args.out,
        "input.height": args.size,
        "input.width": args.size,
    }
    pairs += [f"{k}={v}" for k, v in simple.items() if v is not None]
    if getattr(args, "init_from", None):
        pairs.append(f"init_from={Path(args.init_from).resolve()}")
    if args.data:
        pairs.append("data.paths=" + ",".join(str(Path(p).expanduser().resolve()) for p in args.data))
    cfg = apply_overrides(cfg, pairs + list(args.set))
    if cfg.input.channels != len(cfg.input.mean):
        cfg = dataclasses.replace(
            cfg,
            input=dataclasses.replace(
                cfg.input,
                mean=(cfg.input.mean[0],) * cfg.input.channels,
                std=(cfg.input.std[0],) * cfg.input.channels,
            ),
        )
    if cfg.data.recipe == "folder" and not cfg.data.paths:
        raise ValueError("give --data PATH (a class-per-folder dataset) or --recipe NAME")
    return check(cfg)


def _rewrite_card(card_path: Path, change, said: str) -> None:  # noqa: ANN001 (Card -> Card)
    """Save the card at `card_path` as `change` makes it, and say `said` on stderr."""
    from modelcard import load_card

    change(load_card(card_path)).save(card_path)
    print(f"{card_path}: {said}", file=sys.stderr)


def write_identification(card_path: Path, identification) -> None:  # noqa: ANN001 (modelcard's Identification)
    """Replace the card's identification table (none measured: SystemExit, the card unchanged)."""
    if identification is None:
        raise SystemExit(
            "no identification table: too few validation classes (2 at least, with more images than eval.gallery_ks)"
        )
    _rewrite_card(
        card_path,
        lambda card: dataclasses.replace(card, identification=identification),
        f"identification table written ({len(identification.rows)} rows)",
    )


def write_by_set(card_path: Path, metrics: dict) -> None:
    """Replace the card's per-source-set figures (`metrics.by_set`) with those measured here (none measured:
    SystemExit, the card unchanged); every other field stays."""
    if not metrics.get("by_set"):
        raise SystemExit("no per-set figures: this dataset's test split has a single source set or none")
    _rewrite_card(
        card_path,
        lambda card: dataclasses.replace(card, metrics={**card.metrics, "by_set": metrics["by_set"]}),
        f"per-set figures written ({', '.join(metrics['by_set'])})",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m training",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG,
        description="Train, evaluate and export Siamese (metric-learning) encoders for few-shot recognition.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser(
        "train",
        help="train, tune the threshold, evaluate, export ONNX + model card + report",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG,
    )
    _config_args(t)
    t.add_argument("--resume", action="store_true", help="continue from runs/<name>/last.pt if it exists")
    t.add_argument(
        "--init-from",
        default=None,
        metavar="CHECKPOINT",
        help="warm start: take the encoder weights from a checkpoint of the same architecture, "
        "then train with a fresh schedule (e.g. with more data or another loss)",
    )
    t.add_argument("--no-progress", action="store_true", help="no progress bar (for logs)")
    e = sub.add_parser(
        "evaluate", help="evaluate a shipped models/<name>.onnx (by its card) on a dataset's test split"
    )
    _config_args(e)
    e.add_argument("--onnx", required=True, help="path to <name>.onnx (its .json card must sit beside it)")
    e.add_argument(
        "--write-identification",
        action="store_true",
        help="write the identification table measured here (validation galleries, eval.gallery_* and "
        "eval.identify_statistic) into the model's card; the ONNX and every other card field stay",
    )
    e.add_argument(
        "--write-by-set",
        action="store_true",
        help="write the per-source-set figures measured here (metrics.by_set: macro with its 95 %% interval, "
        "micro) into the model's card; the ONNX and every other card field stay",
    )
    x = sub.add_parser("export", help="evaluate + export a training checkpoint (e.g. runs/<name>/best.pt)")
    x.add_argument("--checkpoint", required=True, help="checkpoint written by `train`")
    x.add_argument("--out", default=None, help="output folder (default: the one in the checkpoint's config)")
    x.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="change an evaluation or naming field first, e.g. eval.target_far=0.05 or name=faces",
    )
    i = sub.add_parser(
        "import",
        help="evaluate + export a recipe's pretrained encoder (model.pretrained) as it ships, without training",
    )
    _config_args(i)
    c = sub.add_parser("config", help="print the resolved configuration as JSON")
    _config_args(c)
    s = sub.add_parser("summary", help="print the shipped models' held-out figures as a markdown table")
    s.add_argument("--models", default="models", help="folder of <name>.json model cards")
    s.add_argument(
        "--compare",
        action="store_true",
        help="one row per card with loss, encoder and the common figures (for comparing runs)",
    )
    return parser


def main(argv: list[str] | None = None, environ: dict[str, str] | None = None) -> int:
    import os

    args = build_parser().parse_args(argv)
    env = dict(os.environ if environ is None else environ)
    if args.command == "summary":
        from training.summary import compare_table, summary_table

        print(compare_table(Path(args.models)) if args.compare else summary_table(Path(args.models)))
        return 0
    try:
        if args.command == "export":
            from training.pipeline import export_checkpoint

            card = export_checkpoint(Path(args.checkpoint), out_dir=args.out, overrides=args.set)
            print(json.dumps(card.metrics, indent=2))
            return 0
        cfg = resolve_config(args, env)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.command == "config":
        print(cfg.to_json())
        return 0
    if args.command == "import":
        from training.pipeline import import_pretrained

        card = import_pretrained(cfg)
        print(
            json.dumps(
                {"model": card.name, "threshold": card.threshold.value, "metrics": card.metrics}, indent=2
            )
        )
        return 0
    if args.command == "evaluate":
        from training.pipeline import evaluate_onnx

        ev = evaluate_onnx(Path(args.onnx), cfg)
        if args.write_identification:
            write_identification(Path(args.onnx).with_suffix(".json"), ev.identification)
        if args.write_by_set:
            write_by_set(Path(args.onnx).with_suffix(".json"), ev.metrics)
        print(
            json.dumps(
                {"threshold": ev.threshold, "metrics": ev.metrics, "pixel_nn_baseline": ev.baseline},
                indent=2,
                default=float,
            )
        )
        return 0
    from training.pipeline import build

    card = build(cfg, resume=args.resume, progress=not args.no_progress)
    print(
        json.dumps(
            {"model": card.name, "threshold": card.threshold.value, "metrics": card.metrics},
            indent=2,
            default=float,
        )
    )
    return 0
