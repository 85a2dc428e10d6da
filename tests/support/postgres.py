"""A real PostgreSQL 16 server for tests, with no Docker: the `pgserver` wheel, started once per session under
tmp and stopped at the end; every test that asks gets a database of its own. Tests skip, saying why, where
the wheel or the driver is missing or the server cannot start."""

from __future__ import annotations

import itertools
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The server's URL (a Unix socket in its own directory under /tmp: not in pytest's numbered tmp dirs,
    which another pytest run on the machine may remove while this one runs)."""
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")  # platformdirs; pgserver never uses it
    try:
        import pgserver
        import psycopg  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"PostgreSQL tests need pgserver and psycopg (the dev extra): {exc}")
    directory = tempfile.mkdtemp(prefix="sg-postgres-")
    try:
        server = pgserver.get_server(directory, cleanup_mode="stop")
        url = server.get_uri()
    except Exception as exc:  # no shared memory, no permission to run initdb...
        shutil.rmtree(directory, ignore_errors=True)
        pytest.skip(f"PostgreSQL could not start here: {exc}")
    try:
        yield url
    finally:
        server.cleanup()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A new, empty database on the session's server, dropped after the test."""
    import psycopg

    name = f"sg_test_{next(_numbers)}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(postgres_server)
    yield parts._replace(path=f"/{name}").geturl()
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
