"""What a result was measured on: CPU, cores, OS, and the versions of the libraries that do the work."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path

PACKAGES = ("onnxruntime", "onnxruntime-gpu", "faiss-cpu", "faiss-gpu", "numpy", "uvicorn", "httpx")


def cpu_model(cpuinfo: str) -> str:
    """The first `model name` line of a /proc/cpuinfo text, or the platform's processor string."""
    for line in cpuinfo.splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def usable_cores() -> int:
    """Cores this process may run on (the affinity mask), not the host's total."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def versions() -> dict[str, str]:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def machine_info() -> dict[str, object]:
    cpuinfo = Path("/proc/cpuinfo")
    model = cpu_model(cpuinfo.read_text() if cpuinfo.exists() else "")
    cores = usable_cores()
    return {
        "summary": f"{model}, {cores} usable cores, {platform.system()} {platform.release()}",
        "cpu": model,
        "cores": cores,
        "python": platform.python_version(),
        "versions": versions(),
    }
