"""A PostgreSQL server that stops and starts again under a serving replica (a server of the test's own, from
the pgserver wheel; skipped, saying why, without): identify answers from memory while it is down, writes
fail as storage errors, not hangs, and after the restart no request fails on a connection it broke."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from gallery.errors import StorageError
from tests.support.postgres import own_server


@pytest.fixture
def server():
    with own_server("sg-postgres-restart-") as handle:
        yield handle


def test_a_server_restart_fails_no_request(server, tmp_path, unit_vectors, shas, model_sha, dim):
    import pgserver

    from gallery.postgres import PostgresRegistry
    from gallery.postgres.follower import FollowConfig

    def pg_ctl(*args: str) -> None:
        pgserver.pg_ctl(["-w", "-m", "fast", *args], pgdata=server.pgdata, user=server.system_user)

    registry = PostgresRegistry(tmp_path / "a", server.get_uri(), follow=FollowConfig(poll_s=0.5))
    registry.open()
    try:
        registry.create("faces", model="faces", model_sha256=model_sha, dim=dim)
        gallery = registry.get("faces")
        vectors = unit_vectors(8, seed=20)
        gallery.add("ada", vectors[:2], image_sha256s=shas(2))
        readers = [threading.Thread(target=lambda: registry.get("faces").info) for _ in range(4)]
        for reader in readers:  # several connections in the pool, idle, as a loaded service has
            reader.start()
        for reader in readers:
            reader.join()

        pg_ctl("stop")
        started = time.monotonic()
        assert gallery.search(vectors[:1], top_k=1, wait=1.0)[0][0].identity == "ada"  # from memory
        assert time.monotonic() - started < 0.5
        started = time.monotonic()
        with pytest.raises(StorageError):
            gallery.add("bob", vectors[2:3], image_sha256s=shas(1))
        assert time.monotonic() - started < 15  # a named failure, in bounded time

        server.ensure_postgres_running()
        time.sleep(0.5)
        pg_ctl("restart")  # with idle connections pooled from before
        for i in range(6):  # none of them fails a request
            gallery.add(f"p{i}", vectors[2 + i : 3 + i], image_sha256s=shas(1))
        assert gallery.info.references == 8
        deadline = time.monotonic() + 10
        while not registry.replication().listening:  # the follower reconnected by itself
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert np.array_equal(gallery.store.reference_ids(), np.sort(gallery.index.ids()))
    finally:
        registry.close()
