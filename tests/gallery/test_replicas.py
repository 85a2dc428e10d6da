"""Replicas sharing galleries in one PostgreSQL database (a real server from the pgserver wheel; skipped,
saying why, without): each keeps its own FAISS index, in step with the other's writes through the change log
and LISTEN/NOTIFY, with catch-up from the log after a missed notification, a restart, or a pruned log."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from gallery.errors import GalleryNotFound

FAST = {"poll_s": 0.5, "prune_every_s": 3600.0}


def wait_for(condition: Callable[[], bool], *, timeout: float = 5.0) -> float:
    """Seconds until `condition()` held; fails the test after `timeout`."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            pytest.fail(f"not within {timeout} s")
        time.sleep(0.005)
    return time.monotonic() - started


@pytest.fixture
def replicas(postgres_url: str, tmp_path: Path) -> Iterator[Callable[..., object]]:
    """replicas(name, read_deadline_s=30, **follow) -> an open PostgresRegistry with its own data dir (closed after the test)."""
    from gallery.postgres import PostgresRegistry
    from gallery.postgres.follower import FollowConfig

    opened = []

    def make(name: str, read_deadline_s: float = 30.0, **follow: float):
        registry = PostgresRegistry(
            tmp_path / name,
            postgres_url,
            follow=FollowConfig(**(FAST | follow)),
            read_deadline_s=read_deadline_s,
            ann_min_size=10_000,
        )
        registry.open()
        opened.append(registry)
        return registry

    yield make
    for registry in opened:
        registry.close()


def found(registry, vector: np.ndarray, gallery: str = "faces") -> str | None:
    try:
        hits = registry.get(gallery).search(vector[None], top_k=1)[0]
    except GalleryNotFound:
        return None
    return hits[0].identity if hits and hits[0].distance < 1e-3 else None


def consistent(registry, gallery: str = "faces") -> tuple[int, int, int]:
    """(index size, labels, stored references) of one replica's gallery: all three agree when in step."""
    g = registry.get(gallery)
    return g.index.ntotal, g.size[1], g.info.references


def test_create_enroll_delete_on_one_replica_show_on_the_other(replicas, unit_vectors, shas, model_sha, dim):
    a, b = replicas("a"), replicas("b")
    a.create("faces", model="faces", model_sha256=model_sha, dim=dim)
    wait_for(lambda: "faces" in b)
    vectors = unit_vectors(3, seed=1)
    a.get("faces").add("ada", vectors[:2], image_sha256s=shas(2))
    seconds = wait_for(lambda: found(b, vectors[1]) == "ada")
    assert seconds < 1.0
    b.get("faces").add("bob", vectors[2:], image_sha256s=shas(1))  # and the other way
    wait_for(lambda: found(a, vectors[2]) == "bob")
    assert consistent(a) == consistent(b) == (3, 3, 3)
    assert a.get("faces").size == b.get("faces").size == (2, 3)

    a.get("faces").delete_identity("ada")
    wait_for(lambda: found(b, vectors[0]) is None)
    assert consistent(b) == (1, 1, 1) and b.get("faces").size == (1, 1)
    a.get("faces").set_threshold(0.42)
    wait_for(lambda: b.get("faces").meta.threshold == 0.42)
    assert b.get("faces").log_lag().changes == 0

    a.delete("faces")
    wait_for(lambda: "faces" not in b)
    b.create("faces", model="faces", model_sha256=model_sha, dim=dim)  # the name is free again, everywhere
    wait_for(lambda: "faces" in a)
    assert a.get("faces").info.references == 0 and found(a, vectors[2]) is None


def test_a_missed_notification_is_caught_up_after_reconnecting(
    replicas, postgres_url, unit_vectors, shas, model_sha, dim
):
    import psycopg

    a, b = replicas("a"), replicas("b", poll_s=3600.0)  # no polling: only a reconnect's catch-up can find it
    a.create("faces", model="faces", model_sha256=model_sha, dim=dim)
    wait_for(lambda: "faces" in b)
    wait_for(lambda: b.replication().listening)
    b.follower._stop.set()  # b stops listening (its thread ends), as if its connection had been down
    wait_for(lambda: not b.replication().listening)
    vectors = unit_vectors(2, seed=2)
    a.get("faces").add("ada", vectors, image_sha256s=shas(2))
    time.sleep(0.3)
    assert found(b, vectors[0]) is None and b.get("faces").log_lag().changes == 2
    b.follower._thread = None
    b.follower.start()  # listening again: the catch-up after connecting finds what was missed
    wait_for(lambda: found(b, vectors[0]) == "ada")
    assert consistent(b) == (2, 2, 2)

    with psycopg.connect(postgres_url, autocommit=True) as admin:  # the server drops b's listening connection
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN%' "
            "AND pid <> pg_backend_pid()"
        )
    more = unit_vectors(1, seed=3)
    a.get("faces").add("bob", more, image_sha256s=shas(1))
    wait_for(lambda: found(b, more[0]) == "bob", timeout=10.0)


def test_a_replica_behind_the_pruned_log_reloads_the_gallery(
    replicas, postgres_url, unit_vectors, shas, model_sha, dim
):
    from gallery.postgres import changes
    from gallery.postgres.connection import connect, transaction

    a, b = replicas("a"), replicas("b")
    a.create("faces", model="faces", model_sha256=model_sha, dim=dim)
    wait_for(lambda: "faces" in b)
    vectors = unit_vectors(4, seed=4)
    a.get("faces").add("ada", vectors[:2], image_sha256s=shas(2))
    wait_for(lambda: found(b, vectors[0]) == "ada")
    b.follower.stop()
    a.get("faces").add("bob", vectors[2:], image_sha256s=shas(2))
    a.get("faces").delete_identity("ada")
    conn = connect(postgres_url)
    try:
        with transaction(conn):
            assert changes.prune(conn, older_than_s=0.0) == 6  # 2 + 2 added, 2 deleted
    finally:
        conn.close()
    gallery = b.get("faces")
    assert gallery.store.pruned_through() > gallery._applied_seq
    gallery.catch_up()
    assert found(b, vectors[2]) == "bob" and found(b, vectors[0]) is None
    assert consistent(b) == (2, 2, 2) and gallery.size == (1, 2)


def test_pruning_goes_a_batch_at_a_time_oldest_first(
    replicas, postgres_url, unit_vectors, shas, model_sha, dim
):
    from gallery.postgres import changes
    from gallery.postgres.connection import connect, transaction

    a = replicas("a")
    a.create("faces", model="faces", model_sha256=model_sha, dim=dim)
    a.get("faces").add("ada", unit_vectors(6, seed=5), image_sha256s=shas(6))
    schema = a.get("faces").store.schema
    conn = connect(postgres_url)
    try:
        seqs = [r[0] for r in conn.execute("SELECT seq FROM public.sg_changes ORDER BY seq").fetchall()]
        assert len(seqs) == 6
        steps = []
        for _ in range(3):
            with transaction(conn):
                steps.append(changes.prune(conn, older_than_s=0.0, limit=4))
            steps.append(changes.pruned_through(conn, schema))
        # the four oldest, then the other two (fewer than a batch: done), then nothing
        assert steps == [4, seqs[3], 2, seqs[5], 0, seqs[5]], (steps, seqs)
    finally:
        conn.close()


def test_a_gallery_set_aside_for_a_read_the_server_left_unanswered_opens_once_it_answers(
    replicas, postgres_url, unit_vectors, shas, model_sha, dim
):
    import psycopg

    from gallery.errors import GalleryUnavailable
    from gallery.postgres.store import catalog_schema

    a = replicas("a")
    a.create("faces", model="faces", model_sha256=model_sha, dim=dim)
    vectors = unit_vectors(2, seed=6)
    a.get("faces").add("ada", vectors, image_sha256s=shas(2))
    with psycopg.connect(postgres_url, autocommit=True) as holder:
        holder.execute("BEGIN")  # as a schema change holds it: every read of the table waits
        holder.execute(f'LOCK TABLE "{catalog_schema(postgres_url, "faces")}".meta IN ACCESS EXCLUSIVE MODE')
        b = replicas("b", read_deadline_s=0.5)  # its opening of the gallery is cut at the read deadline
        (entry,) = b.unavailable()
        assert entry.name == "faces" and "no answer within 0.5 s" in entry.reason, entry
        assert entry.retry_at is not None and entry.failures == 1, entry
        with pytest.raises(GalleryUnavailable):  # not gallery_not_found: the gallery is there
            b.get("faces")
        time.sleep(1.5)  # three of the follower's syncs: none tries again before the first retry is due (5 s)
        with pytest.raises(GalleryUnavailable):
            b.get("faces")
        assert b.unavailable() == [entry]
        holder.execute("ROLLBACK")

    def opened() -> bool:
        try:
            return found(b, vectors[0]) == "ada"
        except GalleryUnavailable:
            return False

    wait_for(opened, timeout=10.0)  # the next sync opens it: no restart
    assert b.unavailable() == []


def test_a_gallery_whose_schema_lost_its_meta_table_is_set_aside_as_corrupt_for_good(
    replicas, postgres_url, model_sha, dim
):
    import psycopg

    from gallery.postgres.store import catalog_schema

    a = replicas("a")
    a.create("faces", model="faces", model_sha256=model_sha, dim=dim)
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f'DROP TABLE "{catalog_schema(postgres_url, "faces")}".meta CASCADE')
    (entry,) = replicas("b").unavailable()
    # the gallery is damaged, not the database: never tried again, and not taken for deleted elsewhere
    assert "no gallery meta table" in entry.reason and entry.retry_at is None, entry


def test_many_changes_cross_to_hnsw_on_both_and_stay_in_step(replicas, unit_vectors, shas, model_sha, dim):
    a = replicas("a")
    a.create("faces", model="faces", model_sha256=model_sha, dim=dim)
    b = replicas("b")
    gallery = a.get("faces")
    gallery._config = type(gallery._config).from_options(ann_min_size=300)
    b.get("faces")._config = gallery._config
    vectors = unit_vectors(600, seed=5)
    for i in range(0, 600, 50):  # 12 enrolls of 50, crossing the graph's size on the way
        gallery.add(f"id{i}", vectors[i : i + 50], image_sha256s=shas(50))
    gallery.delete_identity("id0")
    wait_for(lambda: consistent(b) == (550, 550, 550), timeout=10.0)
    b.get("faces").wait_for_index(10.0)
    b.get("faces").catch_up()
    assert b.get("faces").index.kind == "hnsw"
    assert consistent(b) == consistent(a) == (550, 550, 550)
    assert a.get("faces").size == b.get("faces").size == (11, 550)  # identities counted once, crossing or not
    assert found(b, vectors[599]) == "id550" and found(b, vectors[0]) is None


def test_many_galleries_share_a_bounded_pool_of_connections(
    postgres_url, tmp_path, unit_vectors, shas, model_sha, dim
):
    import psycopg

    from gallery.postgres import PostgresRegistry

    registry = PostgresRegistry(tmp_path / "a", postgres_url, pool_size=3)
    registry.open()
    try:
        for i in range(12):
            registry.create(f"g{i}", model="faces", model_sha256=model_sha, dim=dim)
            registry.get(f"g{i}").add("ada", unit_vectors(1, seed=i), image_sha256s=shas(1))
        database = postgres_url.rsplit("/", 1)[1].split("?")[0]
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            held = admin.execute(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (database,),
            ).fetchone()[0]
        assert held <= 3 + 1  # the pool, and the change log's listener
        assert [registry.get(f"g{i}").info.references for i in range(12)] == [1] * 12
    finally:
        registry.close()


def test_a_page_whose_deletes_compact_the_graph_applies_its_adds_once(
    replicas, unit_vectors, shas, model_sha, dim
):
    a = replicas("a")
    a.create("faces", model="faces", model_sha256=model_sha, dim=dim)
    b = replicas("b", poll_s=3600.0)
    small_graph = type(a.get("faces")._config).from_options(ann_min_size=50)
    for registry in (a, b):
        registry.get("faces")._config = small_graph
    vectors = unit_vectors(200, seed=6)
    gallery = a.get("faces")
    gallery.add("ada", vectors[:60], image_sha256s=shas(60))
    gallery.add("bob", vectors[60:150], image_sha256s=shas(90))
    wait_for(lambda: consistent(b) == (150, 150, 150))
    assert b.get("faces").index.kind == "hnsw"
    b.follower.stop()
    gallery.delete_identity("ada")  # 60 of 150 tombstoned on b: past compact_fraction, so b rebuilds
    gallery.add("cyd", vectors[150:], image_sha256s=shas(50))
    b.get("faces").catch_up()  # one page: the deletes (compaction reads the store, cyd included), the adds
    assert consistent(b) == (140, 140, 140)
    assert found(b, vectors[199]) == "cyd" and found(b, vectors[0]) is None


def staged_migration(gallery, unit_vectors, *, sha256: str, dim: int) -> None:
    """A migration of `gallery` to model `sha256` with every reference staged: ready to switch."""
    from gallery import migration

    migration.begin(gallery.store, model="faces2", model_sha256=sha256, dim=dim, drop_failed=False)
    ids = [i for i, _ in migration.pending(gallery.store, after=0, limit=1000)]
    migration.stage(gallery.store, ids, unit_vectors(len(ids), dim=dim, seed=50), [], model_sha256=sha256)


def test_a_switch_waits_for_an_add_in_flight_on_another_replica_and_then_sees_it(
    replicas, unit_vectors, shas, model_sha, dim
):
    import threading

    from gallery.types import Enrollment

    a, b = replicas("a"), replicas("b")
    a.create("faces", model="faces", model_sha256=model_sha, dim=dim)
    wait_for(lambda: "faces" in b)
    ga, gb = a.get("faces"), b.get("faces")
    ga.add("ada", unit_vectors(2, seed=7), image_sha256s=shas(2))
    staged_migration(ga, unit_vectors, sha256="b" * 64, dim=dim)
    inside, go = threading.Event(), threading.Event()

    def add_on_b() -> None:  # B's add, its transaction open when A switches
        with gb.store.atomic():
            gb.store.add_many([Enrollment("eve", unit_vectors(1, seed=8), tuple(shas(1)), None, None)])
            inside.set()
            go.wait(10)

    writer = threading.Thread(target=add_on_b)
    writer.start()
    inside.wait(10)
    switched: list = []
    switcher = threading.Thread(target=lambda: switched.append(ga.switch_model()))
    switcher.start()
    time.sleep(0.3)
    assert switcher.is_alive(), "the switch must wait for the write in flight"
    go.set()
    writer.join(10)
    switcher.join(10)
    assert switched == [None]  # eve is neither staged nor failed: no switch yet
    assert ga.meta.model_sha256 == model_sha


def test_an_add_on_a_replica_behind_a_switch_is_refused_not_stored(
    replicas, unit_vectors, shas, model_sha, dim
):
    from gallery.errors import ModelMismatch

    a, b = replicas("a"), replicas("b", poll_s=3600.0)
    a.create("faces", model="faces", model_sha256=model_sha, dim=dim)
    wait_for(lambda: "faces" in b)
    ga, gb = a.get("faces"), b.get("faces")
    ga.add("ada", unit_vectors(2, seed=9), image_sha256s=shas(2))
    wait_for(lambda: consistent(b) == (2, 2, 2))
    b.follower.stop()  # b has not seen the switch
    staged_migration(ga, unit_vectors, sha256="c" * 64, dim=dim // 2)
    assert ga.switch_model() == []
    with pytest.raises(ModelMismatch, match="another replica"):
        gb.add("eve", unit_vectors(1, seed=10), image_sha256s=shas(1), model_sha256=model_sha)
    assert ga.info.references == 2
    gb.catch_up()  # b then follows the switch: the new model's embeddings, the new width
    assert (gb.meta.model_sha256, gb.meta.dim, gb.index.dim) == ("c" * 64, dim // 2, dim // 2)
    assert consistent(b) == (2, 2, 2)


def test_a_rebuild_before_catching_up_still_applies_a_threshold_set_elsewhere(
    replicas, unit_vectors, shas, model_sha, dim
):
    a, b = replicas("a"), replicas("b", poll_s=3600.0)
    a.create("faces", model="faces", model_sha256=model_sha, dim=dim)
    wait_for(lambda: "faces" in b)
    gb = b.get("faces")
    gb._config = type(gb._config).from_options(ann_min_size=5)
    gb.add("bob", unit_vectors(3, seed=11), image_sha256s=shas(3))
    b.follower.stop()
    a.get("faces").set_threshold(0.42)
    gb.add("cyd", unit_vectors(3, seed=12), image_sha256s=shas(3))  # crosses to HNSW: a rebuild, cursor moved
    assert gb.index.kind == "hnsw"
    assert gb.meta.threshold == 0.42
    assert gb.size == (2, 6) and consistent(b) == (6, 6, 6)


@pytest.mark.parametrize("new_dim", [16, 8], ids=["same-width", "other-width"])
def test_a_switch_the_pruned_log_no_longer_shows_is_seen_by_the_reload(
    replicas, postgres_url, unit_vectors, shas, model_sha, dim, new_dim
):
    from gallery import migration
    from gallery.postgres import changes
    from gallery.postgres.connection import connect, transaction

    a, b = replicas("a"), replicas("b")
    a.create("faces", model="faces", model_sha256=model_sha, dim=dim)
    wait_for(lambda: "faces" in b)
    ga, gb = a.get("faces"), b.get("faces")
    gb.add("ada", unit_vectors(3, seed=13), image_sha256s=shas(3))
    wait_for(lambda: consistent(a) == (3, 3, 3))
    a.follower.stop()  # a is cut off longer than the log keeps changes
    migration.begin(gb.store, model="faces2", model_sha256="d" * 64, dim=new_dim, drop_failed=False)
    ids = [i for i, _ in migration.pending(gb.store, after=0, limit=100)]
    new_vectors = unit_vectors(len(ids), dim=new_dim, seed=14)
    migration.stage(gb.store, ids, new_vectors, [], model_sha256="d" * 64)
    assert gb.switch_model() == []
    conn = connect(postgres_url)
    try:
        with transaction(conn):
            changes.prune(conn, older_than_s=0.0)
    finally:
        conn.close()
    ga.catch_up()
    assert (ga.meta.model_sha256, ga.meta.dim, ga.index.dim) == ("d" * 64, new_dim, new_dim)
    hit = ga.search(new_vectors[:1], top_k=1, model_sha256="d" * 64)[0][0]
    assert hit.identity == "ada" and hit.distance < 1e-3  # the new model's vectors, not the old ones


def test_a_storage_probe_logs_no_change_but_a_threshold_does(replicas, model_sha, dim):
    a = replicas("a")
    a.create("faces", model="faces", model_sha256=model_sha, dim=dim)
    gallery = a.get("faces")
    head = gallery.store.log_head()
    gallery._write_nothing()  # what a storage probe writes
    assert gallery.store.log_head() == head
    gallery.set_threshold(0.5)
    assert gallery.store.log_head() == head + 1


def deleting(registry, name: str) -> tuple[threading.Thread, list[BaseException | None]]:
    """The gallery's delete, started on a thread: (the thread, [None] once it returned or [the exception])."""
    outcome: list[BaseException | None] = []

    def delete() -> None:
        try:
            registry.delete(name)
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 (the caller asserts on it)
            outcome.append(exc)

    worker = threading.Thread(target=delete)
    worker.start()
    return worker, outcome


def test_a_gallery_delete_waits_for_a_prune_in_flight_instead_of_meeting_its_row_locks(
    replicas, postgres_url, unit_vectors, shas, model_sha, dim
):
    """Both delete the gallery's log rows: the delete waits on the log's lock (never on the prune's row locks,
    where the two could meet in opposite orders and PostgreSQL would fail one), then goes through."""
    from gallery.postgres import changes
    from gallery.postgres.connection import connect, transaction
    from gallery.postgres.schema import LOG_LOCK

    a = replicas("a")
    a.create("faces", model="faces", model_sha256=model_sha, dim=dim)
    a.get("faces").add("ada", unit_vectors(3, seed=7), image_sha256s=shas(3))
    pruner, admin = connect(postgres_url), connect(postgres_url)

    try:
        with transaction(pruner):
            assert changes.prune(pruner, older_than_s=0.0) == 3
            worker, deleted = deleting(a, "faces")
            # (a follower may wait too: reading the gallery, on the relation lock of the delete's DROP SCHEMA;
            # pruning, on the log's lock)
            waits = "SELECT locktype, objid FROM pg_locks WHERE NOT granted AND locktype <> 'relation'"
            wait_for(lambda: admin.execute(waits).fetchall() != [])
            assert set(admin.execute(waits).fetchall()) == {("advisory", LOG_LOCK)}  # no row's transactionid
            assert deleted == []
        worker.join(timeout=10)
        assert deleted == [None] and "faces" not in a
        leftover = (
            "SELECT (SELECT COUNT(*) FROM public.sg_changes), (SELECT COUNT(*) FROM public.sg_changes_pruned)"
        )
        assert admin.execute(leftover).fetchone() == (0, 0)
    finally:
        pruner.close()
        admin.close()


def test_a_gallery_delete_waits_for_a_write_in_flight_and_neither_fails(
    replicas, postgres_url, unit_vectors, shas, model_sha, dim
):
    """A write has read the gallery's meta row (as an enroll checks its model) when the delete comes: the delete
    waits for the gallery's lock, not for a table lock a half-done DROP would hold against the write's next
    statement, so the write commits, then the delete."""
    from gallery.postgres.connection import connect, transaction
    from gallery.postgres.store import lock_gallery

    a = replicas("a")
    a.create("faces", model="faces", model_sha256=model_sha, dim=dim)
    a.get("faces").add("ada", unit_vectors(1, seed=8), image_sha256s=shas(1))
    schema = a.get("faces").store.schema
    writer, admin = connect(postgres_url), connect(postgres_url)

    try:
        with transaction(writer):
            lock_gallery(writer, schema)
            writer.execute(f'SELECT model FROM "{schema}".meta').fetchone()
            worker, deleted = deleting(a, "faces")
            waits = "SELECT locktype FROM pg_locks WHERE NOT granted"
            wait_for(lambda: admin.execute(waits).fetchall() != [])
            assert set(admin.execute(waits).fetchall()) == {("advisory",)}
            writer.execute(f'UPDATE "{schema}".meta SET threshold = 0.5')  # the write's next statement
        worker.join(timeout=10)
        assert deleted == [None] and "faces" not in a
    finally:
        writer.close()
        admin.close()


def test_stop_wakes_the_follower_at_once_instead_of_at_the_end_of_its_wait(replicas, model_sha, dim):
    from gallery.postgres.follower import WAIT_S

    a = replicas("a", poll_s=3600.0)  # no polling: each wait for notifications lasts WAIT_S
    wait_for(lambda: a.replication().listening)
    time.sleep(0.05)  # inside a wait
    started = time.monotonic()
    a.follower.stop()
    took = time.monotonic() - started
    assert took < WAIT_S / 2, f"stop took {took:.2f} s"
    assert not a.replication().listening and a.replication().error is None  # stopped, not failed
