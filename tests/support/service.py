"""The real service as a subprocess (`python -m app` under uvicorn) for tests: start it on a free port with
only the given SG_ settings, wait for it to answer, stop it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(
    url: str,
    *,
    process: subprocess.Popen,
    timeout: float = 30.0,
    accept: Callable[[httpx.Response], bool] = lambda response: True,
) -> httpx.Response:
    """The first answer from `url` that `accept` takes (any answer by default); fails the test if the process
    exits first or no such answer comes in time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(
                f"server exited with {process.returncode}: {process.stdout.read() if process.stdout else ''}"
            )
        try:
            response = httpx.get(url, timeout=2.0)
            if accept(response):
                return response
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"no accepted answer from {url} within {timeout} s")


def start_service(
    *,
    port: int,
    data_dir: Path,
    models_dir: Path,
    settings: Mapping[str, str] | None = None,
    preexec_fn: Callable[[], None] | None = None,
    wait: bool = True,
) -> subprocess.Popen:
    """`python -m app` on 127.0.0.1:`port` on the CPU, with no SG_ variable inherited from this process:
    only SG_PORT, SG_DATA_DIR, SG_MODELS_DIR, SG_DEVICE=cpu, SG_LOG_LEVEL=warning and `settings` (which may
    override the log level). Its stdout and stderr are one text pipe. With `wait`, returns once /health
    answers; a service that never does is stopped and the test failed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SG_")}
    env.update(
        SG_PORT=str(port),
        SG_DATA_DIR=str(data_dir),
        SG_MODELS_DIR=str(models_dir),
        SG_DEVICE="cpu",
        SG_LOG_LEVEL="warning",
    )
    env.update(settings or {})
    process = subprocess.Popen(
        [sys.executable, "-m", "app"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=preexec_fn,
    )
    if wait:
        try:
            wait_for(f"http://127.0.0.1:{port}/health", process=process)
        except BaseException:
            stop_service(process)
            raise
    return process


def stop_service(process: subprocess.Popen, *, timeout: float = 15.0, kill: bool = False) -> None:
    """SIGTERM, then wait up to `timeout` s for the exit; past it, `kill` sends SIGKILL, otherwise
    subprocess.TimeoutExpired is raised."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        if not kill:
            raise
        process.kill()
