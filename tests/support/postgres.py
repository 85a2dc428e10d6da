"""A real PostgreSQL 16 server for tests, with no Docker: the `pgserver` wheel, started once per session under
tmp and stopped at the end; every test that asks gets a database of its own. Tests skip, saying why, where
the wheel or the driver is missing or the server cannot start."""

from __future__ import annotations

import itertools
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import pytest

_numbers = itertools.count(1)


@contextmanager
def own_server(prefix: str) -> Iterator[Any]:
    """A PostgreSQL server of its own (pgserver's handle), in a new directory under /tmp named `prefix...`,
    stopped and removed after; the test skips, saying why, where the wheel is missing or the server cannot
    start."""
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")  # platformdirs; pgserver never uses it
    try:
        import pgserver
        import psycopg  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"PostgreSQL tests need pgserver and psycopg (the dev extra): {exc}")
    directory = tempfile.mkdtemp(prefix=prefix)
    try:
        server = pgserver.get_server(directory, cleanup_mode="stop")
    except Exception as exc:  # no shared memory, no permission to run initdb...
        shutil.rmtree(directory, ignore_errors=True)
        pytest.skip(f"PostgreSQL could not start here: {exc}")
    try:
        yield server
    finally:
        server.cleanup()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The server's URL (a Unix socket in its own directory under /tmp: not in pytest's numbered tmp dirs,
    which another pytest run on the machine may remove while this one runs)."""
    with own_server("sg-postgres-") as server:
        url = server.get_uri()
        try:
            _no_flushes(url)
        except Exception as exc:
            pytest.skip(f"PostgreSQL could not start here: {exc}")
        yield url


def _no_flushes(url: str) -> None:
    """The test server writes without fsync: its directory is deleted after the session, so nothing in it has
    to outlive a power cut, and a killed server process leaves what it wrote in the OS's page cache, so every
    behaviour a test can see is the same. Flushing made each database create and drop, and every commit,
    wait on the shared disk (`fsync` is a reload-time setting: new connections see it once the server has
    reloaded)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ALTER SYSTEM SET fsync = off")
        conn.execute("SELECT pg_reload_conf()")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with psycopg.connect(url, autocommit=True) as conn:
            if conn.execute("SHOW fsync").fetchone()[0] == "off":
                return
        time.sleep(0.01)


@pytest.fixture
def postgres_databases(postgres_server: str) -> Iterator[Callable[[], str]]:
    """A factory of new, empty databases on the session's server (each call one more), all dropped after
    the test."""
    import psycopg

    names: list[str] = []

    def new() -> str:
        name = f"sg_test_{next(_numbers)}"
        with psycopg.connect(postgres_server, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        names.append(name)
        return urlsplit(postgres_server)._replace(path=f"/{name}").geturl()

    yield new
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        for name in names:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_url(postgres_databases: Callable[[], str]) -> str:
    """A new, empty database on the session's server, dropped after the test."""
    return postgres_databases()
