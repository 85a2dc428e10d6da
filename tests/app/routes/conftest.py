"""The API route suite on both gallery stores: every test runs once on SQLite (files under the data dir) and
once on PostgreSQL (`SG_DATABASE_URL`, a real server from `tests.support.postgres`), its id saying which:
`test_x[sqlite]`, `test_x[postgres]`.

Settings on one data dir share one store, as they share files on SQLite: on PostgreSQL each data dir a test
names gets a database of its own, so a test serving two independent services (two data dirs) gets two
independent stores on both, and a restart on the same settings finds what was stored before.

A test about SQLite itself (its files, their bytes) carries `@pytest.mark.sqlite_only("why")` and runs on
SQLite alone; `stored_sql` reaches a gallery's tables in either store, outside the service, for tests that
look at or damage what is stored.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest

from app.settings import Settings
from tests.app.conftest import make_settings

STORES = ("sqlite", "postgres")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "sqlite_only(reason): a route test about SQLite's files, run on SQLite alone"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "store" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("sqlite_only")
    if marker is not None and not (marker.args or marker.kwargs.get("reason")):
        raise pytest.UsageError(f"{metafunc.definition.nodeid}: sqlite_only needs the reason")
    metafunc.parametrize("store", ("sqlite",) if marker else STORES, indirect=True)


@pytest.fixture
def store(request: pytest.FixtureRequest) -> str:
    """The gallery store the test runs on: "sqlite" or "postgres"."""
    return request.param


@pytest.fixture
def settings_factory(
    store: str, tmp_path: Path, models_dir: Path, request: pytest.FixtureRequest
) -> Callable[..., Settings]:
    """make_settings on the test's store: on PostgreSQL, a database per data dir (an explicit
    `database_url` wins)."""
    if store == "sqlite":
        return lambda **overrides: make_settings(tmp_path, models_dir, **overrides)
    new_database: Callable[[], str] = request.getfixturevalue("postgres_databases")
    databases: dict[Path, str] = {}

    def make(**overrides: Any) -> Settings:
        data_dir = Path(overrides.get("data_dir", tmp_path / "data"))
        if "database_url" not in overrides:
            if data_dir not in databases:
                databases[data_dir] = new_database()
            overrides["database_url"] = databases[data_dir]
        return make_settings(tmp_path, models_dir, **overrides)

    return make


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    return settings_factory()


@contextmanager
def _sql(settings: Settings, gallery: str) -> Iterator[Any]:
    if settings.database_url is None:
        conn = sqlite3.connect(settings.data_dir / "galleries" / f"{gallery}.sqlite")
        try:
            with conn:  # commits on success
                yield conn
        finally:
            conn.close()
        return
    from gallery.postgres.connection import connect, transaction
    from gallery.postgres.store import catalog_schema

    url = settings.database_url.get_secret_value()
    schema = catalog_schema(url, gallery)
    assert schema is not None, f"no gallery {gallery!r} in the catalog"
    conn = connect(url, search_path=schema)
    try:
        with transaction(conn):
            yield conn
    finally:
        conn.close()


@pytest.fixture
def stored_sql() -> Callable[[Settings, str], AbstractContextManager[Any]]:
    """stored_sql(settings, gallery): a connection to the gallery's own tables in the settings' store, taking
    `?` SQL and committing on leaving the block (SQLite: its file; PostgreSQL: its schema)."""
    return _sql
