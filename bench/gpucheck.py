"""The GPU check: one run that reports what a machine offers the GPU path, runs the GPU-marked tests, and
measures every shipped model on the CUDA provider (raw, identify with batching on and off, batcher levers)
plus FAISS GPU search at 1M references. Run: `make gpu-check` or `python -m bench.gpucheck --venv DIR`.

Each step is a subprocess with its own timeout; a failed step is reported and the run goes on. Results go to
bench/results/gpu-<device>/. Without a CUDA provider it says so, runs the CPU parts and exits 0.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.gpusteps import REPO_ROOT, Step, StepResult, child_env, prepare_venv, run_step
from bench.gpusummary import environment_lines, summary_line

RESULTS_DIR = REPO_ROOT / "bench" / "results"
CLIENTS = "1,8,32,64"


def device_slug(env: dict[str, Any]) -> str:
    """`NVIDIA H100 80GB HBM3` -> `nvidia-h100-80gb-hbm3`; `cpu` without a GPU."""
    gpu = env.get("gpu", {})
    name = gpu.get("name") if gpu.get("present") else None
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") if name else "cpu"


def cuda_ok(env: dict[str, Any]) -> bool:
    """Whether a CUDA session really ran on CUDA (plainly or after `preload_dlls()`)."""
    session = env.get("onnxruntime", {}).get("cuda_session", {})
    return "CUDAExecutionProvider" in session.values()


def shipped_models(models_dir: Path) -> list[str]:
    """Every model with a card and an ONNX file, smallest file first."""
    cards = [p for p in Path(models_dir).glob("*.json") if p.with_suffix(".onnx").is_file()]
    return [p.stem for p in sorted(cards, key=lambda p: p.with_suffix(".onnx").stat().st_size)]


def needs_faces(models_dir: Path, model: str) -> bool:
    """A face model's card aligns faces: synthetic images have none, so it needs real photos."""
    card = json.loads((Path(models_dir) / f"{model}.json").read_text())
    return bool(card.get("input", {}).get("align"))


def bench_models(args: argparse.Namespace) -> list[str]:
    """The models the bench can drive: all, less face models when no face photos were given."""
    return [m for m in args.models if args.face_images is not None or not needs_faces(args.models_dir, m)]


def skipped_face_models(args: argparse.Namespace) -> list[StepResult]:
    if args.face_images is not None:
        return []
    reason = "a face model needs --face-images DIR (class-per-folder face photos, 20 people x 5)"
    return [
        StepResult(f"bench {m}", "skipped", 0.0, reason)
        for m in args.models
        if needs_faces(args.models_dir, m)
    ]


def bench_steps(args: argparse.Namespace, *, python: str, out: Path) -> list[Step]:
    """Raw and identify (batching on, off) per model, the batcher levers on the first, FAISS at 1M."""
    common = ["--models-dir", str(args.models_dir), "--device", "cuda", "--duration", str(args.duration)]
    http = [*common, "--clients", CLIENTS, "--gallery-sizes", "1000", "--warmup", "1"]
    steps = []
    models = bench_models(args)
    for model in models:
        bench = [python, "-m", "bench", "run", "--model", model]
        if needs_faces(args.models_dir, model):
            bench += ["--images", str(args.face_images)]
        steps.append(
            Step(
                f"raw {model}",
                [*bench, "--scenario", "raw", *common, "--out", str(out / f"raw-{model}.json")],
                90,
            )
        )
        for batch in (32, 1):
            target = out / f"identify-{model}-maxbatch{batch}.json"
            argv = [*bench, "--scenario", "identify", *http, "--max-batch", str(batch), "--out", str(target)]
            steps.append(Step(f"identify {model} max-batch {batch}", argv, 120))
    if not models:
        return steps
    lever = [python, "-m", "bench", "run", "--model", models[0], "--scenario", "identify", *http]
    for batch, wait in ((128, 0.0), (64, 2.0)):
        target = out / f"identify-{models[0]}-maxbatch{batch}-wait{wait:g}.json"
        argv = [*lever, "--max-batch", str(batch), "--max-wait-ms", str(wait), "--out", str(target)]
        steps.append(Step(f"lever max-batch {batch} max-wait {wait:g} ms", argv, 120))
    levers = [python, "-m", "bench.gpulevers", "--model", models[0], "--models-dir", str(args.models_dir)]
    target = out / f"levers-{models[0]}.json"
    steps.append(
        Step(f"levers {models[0]} (iobinding, fp16, sessions)", [*levers, "--out", str(target)], 120)
    )
    return steps


def faiss_step(args: argparse.Namespace, *, python: str, out: Path) -> Step:
    argv = [
        python,
        "-m",
        "bench.faissgpu",
        "--references",
        str(args.references),
        "--out",
        str(out / "faiss-gpu.json"),
    ]
    return Step("faiss gpu search", argv, 180)


def environment_step(python: str, model: Path | None, *, out: Path) -> tuple[StepResult, dict[str, Any]]:
    """Run bench.gpuenv in the check's interpreter and keep its JSON."""
    argv = [python, "-m", "bench.gpuenv", *([str(model)] if model else [])]
    result = run_step(Step("environment", argv, 60), env=child_env())
    try:
        env = json.loads(result.stdout)
    except json.JSONDecodeError:
        env = {}
    if env:
        result = dataclasses.replace(result, tail="\n".join(environment_lines(env)))
    out.mkdir(parents=True, exist_ok=True)
    (out / "environment.json").write_text(json.dumps(env, indent=2) + "\n")
    return result, env


def tag_results(out: Path, *, gpu: dict[str, Any]) -> None:
    """Name the device in every result document the bench wrote."""
    for path in out.glob("*.json"):
        doc = json.loads(path.read_text())
        if isinstance(doc, dict) and "runs" in doc:
            path.write_text(json.dumps(doc | {"gpu": gpu}, indent=2) + "\n")


def run_check(args: argparse.Namespace) -> tuple[list[StepResult], dict[str, Any], Path]:
    started = time.monotonic()
    results: list[StepResult] = []
    python, venv_result = prepare_venv(args.venv, wheels=args.wheels, offline=args.offline)
    if venv_result is not None:
        results.append(venv_result)
    staging = args.results_dir / "gpu-pending"
    first = Path(args.models_dir) / f"{args.models[0]}.onnx" if args.models else None
    env_result, env = environment_step(python, first, out=staging)
    results.append(env_result)
    out = args.results_dir / f"gpu-{device_slug(env)}"
    out.mkdir(parents=True, exist_ok=True)
    (staging / "environment.json").replace(out / "environment.json")
    staging.rmdir()
    lib_dirs = env.get("nvidia_lib_dirs", [])
    child = child_env(lib_dirs=lib_dirs)
    planned = (
        []
        if "tests" in args.skip
        else [Step("gpu tests", [python, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider"], 180)]
    )
    if not env.get("faiss", {}).get("gpus", 0):
        results.append(StepResult("faiss gpu search", "skipped", 0.0, "faiss sees no GPU"))
    elif "faiss" not in args.skip:
        planned.append(faiss_step(args, python=python, out=out))
    if not cuda_ok(env):
        results.append(StepResult("bench on CUDA", "skipped", 0.0, "no CUDA provider"))
    elif "bench" not in args.skip:
        planned += bench_steps(args, python=python, out=out)
        results += skipped_face_models(args)
    for step in planned:
        left = args.budget - (time.monotonic() - started)
        results.append(run_step(step, env=child, budget_s=left))
    tag_results(out, gpu=env.get("gpu", {}))
    return results, env, out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.gpucheck", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--venv", type=Path, default=None, help="an interpreter's venv to use (else one is made)"
    )
    parser.add_argument("--wheels", type=Path, default=None, help="a folder of wheels to install from")
    parser.add_argument("--offline", action="store_true", help="install from --wheels alone (no index)")
    parser.add_argument("--models-dir", type=Path, default=REPO_ROOT / "models")
    parser.add_argument("--models", type=lambda s: [m for m in s.split(",") if m], default=None)
    parser.add_argument(
        "--face-images", type=Path, default=None, help="class-per-folder photos for face models"
    )
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per bench measurement")
    parser.add_argument("--references", type=int, default=1_000_000, help="FAISS GPU search references")
    parser.add_argument("--budget", type=float, default=450.0, help="seconds for the whole run")
    parser.add_argument("--skip", type=lambda s: set(s.split(",")), default=set(), help="tests,bench,faiss")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.models = args.models or shipped_models(args.models_dir)
    results, env, out = run_check(args)
    for result in results:
        print(result.line(), flush=True)
        if result.name == "environment":
            print(result.tail)
    (out / "check.json").write_text(json.dumps([r.as_dict() for r in results], indent=2) + "\n")
    shown = out.relative_to(REPO_ROOT) if out.is_relative_to(REPO_ROOT) else out
    print(summary_line(results, env, out=shown, model=next(iter(bench_models(args)), None)))
    return 1 if any(r.status == "failed" for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
