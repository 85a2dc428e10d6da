"""Start the real service (`python -m app`, uvicorn) in a subprocess on a free port, wait for /ready, stop it.

The service reads only `SG_*` variables: the child gets our environment minus every `SG_*`, plus its own.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from app.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[1]
SERVICE_SETTINGS = (  # service settings the benchmark can set, each a `--flag` of `bench run`
    "max_batch",
    "max_wait_ms",
    "intra_op_threads",
    "inter_op_threads",
    "decode_threads",
    "search_threads",
    "ann_min_size",
    "index_background_build_min",
    "identify_hot_path",
    "device",
    "card_batch_caps",
)


def service_default(name: str) -> Any:
    """The service's own default for one of its settings."""
    return Settings.model_fields[name].default


@dataclass(frozen=True)
class ServiceConfig:
    """What the service is started with; each set field becomes an `SG_<FIELD>` variable."""

    data_dir: Path
    models_dir: Path
    max_batch: int | None = None
    max_wait_ms: float | None = None
    intra_op_threads: int | None = None
    inter_op_threads: int | None = None
    decode_threads: int | None = None
    search_threads: int | None = None
    ann_min_size: int | None = None
    index_background_build_min: int | None = None
    identify_hot_path: bool | None = None
    device: str | None = None
    card_batch_caps: bool | None = None
    extra_env: Mapping[str, str] = field(default_factory=dict)

    def env(self, *, port: int, api_key: str) -> dict[str, str]:
        """The `SG_*` variables for this configuration."""
        values = {
            "SG_HOST": "127.0.0.1",
            "SG_PORT": str(port),
            "SG_DATA_DIR": str(Path(self.data_dir).resolve()),
            "SG_MODELS_DIR": str(Path(self.models_dir).resolve()),
            "SG_API_KEYS": api_key,
            "SG_LOG_LEVEL": "warning",
        }
        for name in SERVICE_SETTINGS:
            if getattr(self, name) is not None:
                values[f"SG_{name.upper()}"] = str(getattr(self, name))
        return values | dict(self.extra_env)


def free_port() -> int:
    """A TCP port the OS says is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServiceProcess:
    """One service subprocess; `start()` returns the seconds from spawn to the first 200 on /ready."""

    def __init__(self, config: ServiceConfig, *, log_path: Path) -> None:
        self.config = config
        self.log_path = Path(log_path)
        self.port = free_port()
        self.api_key = f"bench-{secrets.token_hex(8)}"
        self._process: subprocess.Popen[bytes] | None = None
        self._started = 0.0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def headers(self) -> dict[str, str]:
        return {"X-API-Key": self.api_key}

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self, *, timeout_s: float = 1800.0) -> float:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SG_")}
        env |= self.config.env(port=self.port, api_key=self.api_key)
        started = self._started = time.perf_counter()
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "app"], cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        self._wait_ready(deadline=started + timeout_s)
        return time.perf_counter() - started

    def _wait_ready(self, *, deadline: float) -> None:
        with httpx.Client(timeout=5.0) as client:
            while time.perf_counter() < deadline:
                if self._process is None or self._process.poll() is not None:
                    raise RuntimeError(f"the service exited during start-up:\n{self.log_tail()}")
                try:
                    if client.get(f"{self.base_url}/ready").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"the service was not ready in time:\n{self.log_tail()}")

    def ready(self) -> dict[str, Any]:
        """The service's /ready body."""
        return httpx.get(f"{self.base_url}/ready", timeout=30.0).json()

    def batch_cap(self, model: str) -> dict[str, Any]:
        """The batch cap /models says `model` is served under, and what set it (the flag, the card, the
        default): {"max_batch": n, "max_batch_source": "..."}; empty if the model is not loaded."""
        listed = httpx.get(f"{self.base_url}/models", headers=self.headers, timeout=30.0).json()["models"]
        for entry in listed:
            if entry["name"] == model:
                return {"max_batch": entry["max_batch"], "max_batch_source": entry["max_batch_source"]}
        return {}

    def index_state(self, gallery: str) -> dict[str, Any]:
        """The index /ready reports for `gallery`: kind, references, building."""
        return dict(self.ready()["galleries"][gallery]["index"])

    def wait_index_built(self, gallery: str, *, timeout_s: float = 1800.0) -> float:
        """Wait until `gallery` builds no index in the background; returns the seconds since spawn."""
        deadline = time.perf_counter() + timeout_s
        while self.index_state(gallery)["building"]:
            if time.perf_counter() > deadline:
                raise RuntimeError(f"gallery {gallery!r} was still building its index after {timeout_s:g} s")
            time.sleep(0.5)
        return time.perf_counter() - self._started

    def provider(self, model: str) -> str | None:
        """The execution provider /ready names for `model` (None if it is not loaded)."""
        return self.ready().get("models", {}).get(model, {}).get("provider")

    def stop(self, *, timeout_s: float = 600.0) -> None:
        """SIGTERM (the lifespan shutdown writes index snapshots), then SIGKILL after `timeout_s`."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def log_tail(self, *, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no service log)"

    def __enter__(self) -> ServiceProcess:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
