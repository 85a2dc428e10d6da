"""The GPU check in its CPU-only mode: a real run against the tiny encoder, and its pure helpers."""

import json
import subprocess
import sys
from pathlib import Path

from bench.gpucheck import cuda_ok, device_slug, shipped_models
from bench.gpusteps import REPO_ROOT, Step, run_step


def test_gpucheck_without_cuda_reports_no_cuda_provider_and_exits_0(models_dir, tmp_path):
    venv = Path(sys.executable).parents[1]
    argv = [sys.executable, "-m", "bench.gpucheck", "--venv", str(venv), "--models-dir", str(models_dir)]
    done = subprocess.run(
        [*argv, "--results-dir", str(tmp_path)], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("gpu-check: ") and "no CUDA provider" in last and "0 failed" in last
    assert "[ok] gpu tests" in done.stdout and "[skipped] bench on CUDA" in done.stdout
    steps = json.loads((tmp_path / "gpu-cpu" / "check.json").read_text())
    assert [s["name"] for s in steps][:1] == ["environment"]
    assert (
        "CPUExecutionProvider"
        in json.loads((tmp_path / "gpu-cpu" / "environment.json").read_text())["onnxruntime"]["providers"]
    )


def test_run_step_past_its_timeout_reports_timeout():
    result = run_step(Step("sleep", [sys.executable, "-c", "import time; time.sleep(30)"], 5.5), env={})
    assert result.status == "timeout" and result.seconds < 20


def test_run_step_missing_program_reports_failed():
    assert run_step(Step("absent", ["/nonexistent/program"], 10), env={}).status == "failed"


def test_device_slug_names_the_gpu_or_cpu():
    assert device_slug({"gpu": {"present": True, "name": "NVIDIA H100 80GB HBM3"}}) == "nvidia-h100-80gb-hbm3"
    assert device_slug({"gpu": {"present": False}}) == "cpu"


def test_cuda_ok_needs_a_session_that_really_ran_on_cuda():
    assert cuda_ok(
        {
            "onnxruntime": {
                "cuda_session": {"plain": "error: libcublas", "preload_dlls": "CUDAExecutionProvider"}
            }
        }
    )
    assert not cuda_ok({"onnxruntime": {"cuda_session": {"plain": "CPUExecutionProvider"}}})
    assert not cuda_ok({})


def test_shipped_models_lists_cards_with_onnx_files(models_dir):
    assert shipped_models(models_dir) == ["tiny"]
