"""The GPU check's plumbing: its interpreter (a given venv, or one made with the `gpu` extra's packages) and
steps run as subprocesses, each under its own timeout, whose outcome is recorded rather than raised.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_VENV = Path("/tmp/sg-gpu-venv")
DEV_PACKAGES = ("pytest", "pytest-asyncio", "httpx", "onnx")  # what the GPU tests and the bench need


@dataclass(frozen=True)
class Step:
    """One command of the check and the seconds it may take."""

    name: str
    argv: list[str]
    timeout_s: float


@dataclass(frozen=True)
class StepResult:
    """How a step ended: ok, failed, timeout or skipped, with the tail of its output."""

    name: str
    status: str
    seconds: float
    tail: str = ""
    stdout: str = ""

    def line(self) -> str:
        last = self.tail.strip().splitlines()[-1:] if self.tail.strip() else []
        return f"[{self.status}] {self.name} ({self.seconds:.1f} s)" + (f": {last[0]}" if last else "")

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "status": self.status,
            "seconds": round(self.seconds, 1),
            "tail": self.tail,
        }


def child_env(*, lib_dirs: list[str] | None = None) -> dict[str, str]:
    """Our environment, the repo on PYTHONPATH (the project is run from source, not installed), and the
    nvidia-* wheels' library folders ahead on LD_LIBRARY_PATH."""
    env = dict(os.environ) | {"PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1"}
    if lib_dirs:
        env["LD_LIBRARY_PATH"] = os.pathsep.join([*lib_dirs, env.get("LD_LIBRARY_PATH", "")]).rstrip(
            os.pathsep
        )
    return env


def run_step(step: Step, *, env: dict[str, str], budget_s: float | None = None) -> StepResult:
    """Run one step under min(its timeout, the budget left); never raises for the step's own failure."""
    timeout = step.timeout_s if budget_s is None else min(step.timeout_s, budget_s)
    if timeout < 5:
        return StepResult(step.name, "skipped", 0.0, "no time left in the budget")
    started = time.monotonic()
    try:
        done = subprocess.run(
            step.argv, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        tail = _text(exc.stderr)[-2000:] or _text(exc.stdout)[-2000:]
        return StepResult(
            step.name, "timeout", time.monotonic() - started, tail + f"\ntimed out after {timeout:.0f} s"
        )
    except OSError as exc:
        return StepResult(step.name, "failed", time.monotonic() - started, str(exc))
    status = "ok" if done.returncode == 0 else "failed"
    tail = (done.stdout[-1500:] + "\n" + done.stderr[-1500:]).strip()
    return StepResult(step.name, status, time.monotonic() - started, tail, done.stdout)


def _text(data: bytes | str | None) -> str:
    return data.decode(errors="replace") if isinstance(data, bytes) else (data or "")


def gpu_requirements(pyproject: Path = REPO_ROOT / "pyproject.toml") -> list[str]:
    """The project's dependencies, its `gpu` extra and the dev packages the check runs (no project install:
    the GPU machine's Python need not be the project's)."""
    project = tomllib.loads(pyproject.read_text())["project"]
    extras = project["optional-dependencies"]
    dev = [r for r in extras["dev"] if r.split(">")[0].split("=")[0].strip() in DEV_PACKAGES]
    return [*project["dependencies"], *extras["gpu"], *dev]


def prepare_venv(venv: Path | None, *, wheels: Path | None, offline: bool) -> tuple[str, StepResult | None]:
    """The interpreter to run the check in: `venv`'s, or a fresh venv (system site-packages visible, so a
    machine's own CUDA wheels count) with the `gpu` extra installed; the install is a step of its own."""
    if venv is not None:
        return str(Path(venv) / "bin" / "python"), None
    python = DEFAULT_VENV / "bin" / "python"
    sources = (["--find-links", str(wheels)] if wheels else []) + (["--no-index"] if offline else [])
    make = Step("venv", [sys.executable, "-m", "venv", "--system-site-packages", str(DEFAULT_VENV)], 60)
    install = Step(
        "venv install", [str(python), "-m", "pip", "install", "-q", *sources, *gpu_requirements()], 300
    )
    made = run_step(make, env=dict(os.environ))
    if made.status != "ok":
        return sys.executable, made
    return str(python), run_step(install, env=dict(os.environ))
