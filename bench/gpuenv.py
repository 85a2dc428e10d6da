"""What a machine offers the GPU path: the GPU and driver, the CUDA libraries found, and what onnxruntime and
faiss were built for and see. Run `python -m bench.gpuenv [MODEL.onnx]` to print it as JSON.

Given a model, it also builds a CUDA session on it, since `get_available_providers()` lists CUDA even where
the CUDA libraries it needs cannot be loaded.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import sysconfig
from importlib import metadata
from pathlib import Path
from typing import Any

CUDA = "CUDAExecutionProvider"
GPU_PACKAGES = ("onnxruntime-gpu", "onnxruntime", "faiss-gpu", "faiss-cpu", "numpy")
CUDA_LIBS = ("libcuda.so", "libcudart.so", "libcublas.so", "libcublasLt.so", "libcudnn.so", "libcurand.so")


def run_text(command: list[str], *, timeout_s: float = 20.0) -> str | None:
    """A command's stdout, or None when it is missing, fails or hangs."""
    if shutil.which(command[0]) is None:
        return None
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def nvidia_smi() -> dict[str, Any]:
    """GPU name, driver, memory and the highest CUDA version the driver runs, from `nvidia-smi`."""
    query = run_text(["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"])
    if query is None:
        return {"present": False}
    name, driver, memory = (part.strip() for part in query.splitlines()[0].split(",", 2))
    header = run_text(["nvidia-smi"]) or ""
    cuda = re.search(r"CUDA Version:\s*([\d.]+)", header)
    return {
        "present": True,
        "name": name,
        "driver": driver,
        "memory": memory,
        "driver_cuda": cuda.group(1) if cuda else None,
    }


def nvidia_lib_dirs() -> list[str]:
    """The `lib` folders of the nvidia-* wheels in this interpreter's site-packages (CUDA 12 and 13 layouts)."""
    root = Path(sysconfig.get_paths()["purelib"]) / "nvidia"
    return sorted(str(p) for p in root.glob("*/lib") if p.is_dir()) if root.is_dir() else []


def cuda_libs_found() -> dict[str, list[str]]:
    """For each CUDA library, the versioned file names `ldconfig` and the nvidia-* wheels offer."""
    names = [line.split(" => ")[-1] for line in (run_text(["ldconfig", "-p"]) or "").splitlines()]
    names += [str(p) for d in nvidia_lib_dirs() for p in Path(d).glob("lib*.so*")]
    found: dict[str, list[str]] = {}
    for lib in CUDA_LIBS:
        hits = sorted({Path(n.strip()).name for n in names if Path(n.strip()).name.startswith(lib + ".")})
        found[lib] = hits
    return found


def package_needs() -> dict[str, dict[str, Any]]:
    """Installed versions of the GPU packages and the nvidia-* wheels each declares it needs."""
    needs: dict[str, dict[str, Any]] = {}
    for name in GPU_PACKAGES:
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        nvidia = [r.split(";")[0].strip() for r in dist.requires or [] if r.lower().startswith("nvidia")]
        needs[name] = {"version": dist.version, "nvidia_requires": nvidia}
    return needs


def onnxruntime_view(model: Path | None) -> dict[str, Any]:
    """ORT's version, the CUDA it was built for, its providers, and the provider a CUDA session really got."""
    try:
        import onnxruntime as ort
    except ImportError as exc:
        return {"error": f"import onnxruntime: {exc}"}
    view: dict[str, Any] = {"version": ort.__version__, "providers": ort.get_available_providers()}
    try:
        from onnxruntime.capi import build_and_package_info as info

        view["built_for_cuda"] = getattr(info, "cuda_version", None) or None
    except ImportError:
        view["built_for_cuda"] = None
    if model is not None and CUDA in view["providers"]:
        view["cuda_session"] = cuda_session_provider(ort, model)
    return view


def cuda_session_provider(ort: Any, model: Path) -> dict[str, Any]:
    """Build a CUDA session plainly, then after `preload_dlls()` if that failed: which provider each got."""
    outcome: dict[str, Any] = {}
    for attempt in ("plain", "preload_dlls"):
        if attempt == "preload_dlls":
            if not hasattr(ort, "preload_dlls"):
                break
            ort.preload_dlls()
        try:
            session = ort.InferenceSession(str(model), providers=[CUDA, "CPUExecutionProvider"])
            outcome[attempt] = session.get_providers()[0]
        except Exception as exc:  # the reason is the finding
            outcome[attempt] = f"error: {exc}"
        if outcome[attempt] == CUDA:
            break
    return outcome


def faiss_view() -> dict[str, Any]:
    """faiss's version and how many GPUs it sees (0 for a CPU build)."""
    try:
        import faiss
    except ImportError as exc:
        return {"error": f"import faiss: {exc}"}
    gpus = faiss.get_num_gpus() if hasattr(faiss, "get_num_gpus") else 0
    return {"version": faiss.__version__, "gpus": gpus}


def environment(model: Path | None = None) -> dict[str, Any]:
    """The whole report for this interpreter."""
    return {
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "gpu": nvidia_smi(),
        "packages": package_needs(),
        "cuda_libs": cuda_libs_found(),
        "nvidia_lib_dirs": nvidia_lib_dirs(),
        "onnxruntime": onnxruntime_view(model),
        "faiss": faiss_view(),
    }


if __name__ == "__main__":
    print(json.dumps(environment(Path(sys.argv[1]) if len(sys.argv) > 1 else None), indent=2))
