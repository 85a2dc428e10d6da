"""Benchmark CLI: `python -m bench run --scenario identify --clients 8,32` and `python -m bench report`.

`run` writes one JSON document per scenario under bench/results/ and prints its table; `report` turns every
document there into the plot and the figures section of bench/RESULTS.md; `tune-cap` measures the batch cap
a model serves fastest under on this CPU and writes it into the model's card (bench/tunecap.py).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import shlex
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.machine import machine_info
from bench.populate import LAYOUTS
from bench.report import scenario_sections, write_report
from bench.scenarios import SCENARIOS, BenchConfig, run_scenario
from bench.server import SERVICE_SETTINGS, service_default
from bench.tunecap import measure, serving_section, write_serving

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
PASSED_AS_IS = (
    "model",
    "models_dir",
    "clients",
    "gallery_sizes",
    "synthetic",
    "images",
    "identities",
    "enroll_batch",
    "work_dir",
    "seed",
)


def int_list(text: str) -> tuple[int, ...]:
    """`1,8,32` -> (1, 8, 32); argparse turns the ValueError into a usage error."""
    values = tuple(int(part) for part in text.split(",") if part.strip())
    if not values:
        raise ValueError(f"expected a comma-separated list of integers, got {text!r}")
    return values


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run one scenario (or all of them) and write JSON results")
    run.add_argument("--scenario", required=True, choices=(*SCENARIOS, "all"))
    run.add_argument(
        "--clients", type=int_list, default=(1, 8, 32, 64), help="concurrent clients, e.g. 1,8,32,64"
    )
    run.add_argument("--gallery-sizes", type=int_list, default=(1_000, 10_000), help="synthetic references")
    run.add_argument("--duration", type=float, default=30.0, help="seconds per measurement")
    run.add_argument("--warmup", type=float, default=3.0, help="seconds of unmeasured load first")
    run.add_argument("--model", default="faces")
    run.add_argument("--models-dir", type=Path, default=Path("models"))
    for name in SERVICE_SETTINGS:
        flag, default = f"--{name.replace('_', '-')}", service_default(name)
        if isinstance(default, bool):
            run.add_argument(flag, action=argparse.BooleanOptionalAction, default=default)
        else:
            run.add_argument(flag, type=str if name == "device" else type(default), default=default)
    run.add_argument(
        "--synthetic",
        choices=LAYOUTS,
        default="model",
        help="layout of the synthetic references: each identity's around a centre of its own (as real "
        "embeddings are), the centres drawn from the model's own embeddings of the bench images (model) or "
        "from the whole sphere (identities); or uniform random directions (the worst case for an ANN index)",
    )
    run.add_argument("--images", type=Path, default=None, help="class-per-folder images (default: synthetic)")
    run.add_argument("--identities", type=int, default=20, help="identities enrolled through the service")
    run.add_argument("--enroll-batch", type=int, default=8, help="images per enroll call")
    run.add_argument("--work-dir", type=Path, default=None, help="where temporary data dirs go")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--out", type=Path, default=None, help="result file (default bench/results/<name>.json)")
    run.add_argument("--results-dir", type=Path, default=RESULTS_DIR, help="where --scenario all writes")
    tune = commands.add_parser(
        "tune-cap", help="measure the fastest CPU batch cap and write it into the card"
    )
    tune.add_argument("--model", required=True)
    tune.add_argument("--models-dir", type=Path, default=Path("models"))
    tune.add_argument(
        "--images", type=Path, default=None, help="class-per-folder images (default: synthetic)"
    )
    tune.add_argument("--identities", type=int, default=20, help="identities enrolled through the service")
    tune.add_argument("--caps", type=int_list, default=(1, 2, 4, 8, 32), help="batch caps to measure")
    tune.add_argument("--clients", type=int, default=32)
    tune.add_argument("--gallery-size", type=int, default=10_000, help="synthetic references")
    tune.add_argument("--duration", type=float, default=20.0, help="seconds per measurement")
    tune.add_argument("--warmup", type=float, default=3.0)
    tune.add_argument("--work-dir", type=Path, default=None)
    tune.add_argument("--out", type=Path, default=None, help="default bench/results/tune-cap/<model>.json")
    tune.add_argument(
        "--write-card", action=argparse.BooleanOptionalAction, default=True, help="set the card's serving cap"
    )
    report = commands.add_parser("report", help="write the plot and the figures section of RESULTS.md")
    report.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    report.add_argument("--results-md", type=Path, default=BENCH_DIR / "RESULTS.md")
    return parser


def config_from(args: argparse.Namespace, *, scenario: str, **overrides: Any) -> BenchConfig:
    values = {name: getattr(args, name) for name in (*SERVICE_SETTINGS, *PASSED_AS_IS)}
    return BenchConfig(
        scenario=scenario, duration_s=args.duration, warmup_s=args.warmup, **values | overrides
    )


def default_name(cfg: BenchConfig) -> str:
    """raw.json, startup.json, or e.g. identify-maxbatch32.json (batching on and off side by side)."""
    if cfg.scenario in ("raw", "startup"):
        return f"{cfg.scenario}.json"
    return f"{cfg.scenario}-maxbatch{cfg.max_batch}.json"


def result_document(cfg: BenchConfig, outcome: dict[str, Any], *, command: str) -> dict[str, Any]:
    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in dataclasses.asdict(cfg).items()}
    return {
        "scenario": cfg.scenario,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command,
        "machine": machine_info(),
        "device": outcome.get("device"),
        "config": config,
        "runs": outcome["runs"],
        "recall": outcome.get("recall", []),
    }


def run_one(cfg: BenchConfig, *, out: Path, command: str) -> Path:
    doc = result_document(cfg, run_scenario(cfg), command=command)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2) + "\n")
    print("\n\n".join(scenario_sections([doc])))
    print(f"\nwrote {out}")
    return out


def plan(args: argparse.Namespace) -> list[BenchConfig]:
    """The scenarios one `run` performs: one, or for `all` every scenario plus identify with batching off."""
    if args.scenario != "all":
        return [config_from(args, scenario=args.scenario)]
    configs = [config_from(args, scenario=s) for s in SCENARIOS]
    return configs[:2] + [config_from(args, scenario="identify", max_batch=1)] + configs[2:]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request would load the client
    if args.command == "report":
        plot_path = write_report(results_dir=args.results_dir, results_md=args.results_md)
        print(
            f"updated {args.results_md}"
            + (f" and {plot_path}" if plot_path else " (no identify runs to plot)")
        )
        return 0
    command = "python -m bench " + shlex.join(sys.argv[1:] if argv is None else list(argv))
    if args.command == "tune-cap":
        return tune_cap(args, command=command)
    configs = plan(args)
    if args.out is not None and len(configs) > 1:
        raise SystemExit("--out names one file; with --scenario all use --results-dir")
    for cfg in configs:
        run_one(cfg, out=args.out or args.results_dir / default_name(cfg), command=command)
    return 0


def tune_cap(args: argparse.Namespace, *, command: str) -> int:
    """Measure each cap, write the figures beside the results, and (with --write-card) the card's section."""
    cfg = BenchConfig(
        scenario="identify",
        models_dir=args.models_dir,
        model=args.model,
        clients=(args.clients,),
        gallery_sizes=(args.gallery_size,),
        duration_s=args.duration,
        warmup_s=args.warmup,
        images=args.images,
        identities=args.identities,
        work_dir=args.work_dir,
    )
    out = args.out or RESULTS_DIR / "tune-cap" / f"{args.model}.json"
    measured = measure(cfg, args.caps)
    serving = serving_section(measured, command=command, results=_shown(out))
    doc = {
        "scenario": "tune-cap",
        "command": command,
        "machine": machine_info(),
        **measured,
        "serving": serving,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2) + "\n")
    print(json.dumps(serving, indent=2))
    print(f"wrote {out}")
    if args.write_card:
        card = args.models_dir / f"{args.model}.json"
        write_serving(card, serving)
        print(f"set {card}'s serving.cpu_max_batch to {serving['cpu_max_batch']}")
    return 0


def _shown(path: Path) -> str:
    """`path` relative to the working directory when it lies under it (how the card names the results)."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
