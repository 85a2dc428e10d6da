"""`python -m app` serves on SG_HOST:SG_PORT with a real uvicorn, in a subprocess."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, *, process: subprocess.Popen, timeout: float = 30.0) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(
                f"server exited with {process.returncode}: {process.stdout.read() if process.stdout else ''}"
            )
        try:
            return httpx.get(url, timeout=2.0)
        except httpx.TransportError:
            time.sleep(0.2)
    pytest.fail(f"no answer from {url} within {timeout} s")


def test_python_m_app_serves_health_and_ready(tmp_path, models_dir):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SG_")}
    env.update(
        SG_PORT=str(port),
        SG_HOST="127.0.0.1",
        SG_DATA_DIR=str(tmp_path / "data"),
        SG_MODELS_DIR=str(models_dir),
        SG_DEVICE="cpu",
        SG_API_KEYS="secret",
        SG_LOG_LEVEL="warning",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "app"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        assert wait_for(f"{base}/health", process=process).json() == {"status": "ok"}
        ready = httpx.get(f"{base}/ready", timeout=5).json()
        assert ready["status"] == "ready" and "faces" in ready["galleries"]
        assert httpx.get(f"{base}/galleries", timeout=5).status_code == 401
        assert httpx.get(f"{base}/galleries", headers={"X-API-Key": "secret"}, timeout=5).status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=15)
    assert (tmp_path / "data" / "galleries" / "faces.sqlite").is_file()
