"""Follower: the thread that keeps one replica's galleries in step with what the other replicas commit.

It LISTENs on the change log's channel (`gallery.postgres.schema.CHANNEL`): a notification names a gallery's
schema (catch that gallery up from the log) or the catalog (open the galleries created elsewhere, close the
ones deleted). Notifications are a wake-up, never the record: after every (re)connection, and every
`poll_s` seconds besides, it catches every gallery up from the log, so a notification missed while the
connection was down, or sent before this replica listened, costs at most one poll interval. It prunes the log
of changes older than `retention_s` now and then (any replica may; a replica left behind the pruned part
reloads the gallery instead, `Gallery.catch_up`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import psycopg

from gallery.changelog import FollowerState
from gallery.errors import GalleryError
from gallery.postgres import changes
from gallery.postgres.connection import (
    CONNECT_TIMEOUT_S,
    KEEPALIVES,
    READ_DEADLINE_S,
    WRITE_DEADLINE_S,
    QmarkConnection,
    pg_errors,
    write_transaction,
)
from gallery.postgres.deadline import sever
from gallery.postgres.schema import CATALOG_PAYLOAD, CHANNEL

log = logging.getLogger(__name__)

WAIT_S = 1.0  # the longest one wait for notifications lasts (`stop` cuts it short by severing the connection)
RETRY_S = (0.5, 1.0, 2.0, 5.0)  # waits before reconnecting, growing while the server stays unreachable


@dataclass(frozen=True)
class FollowConfig:
    poll_s: float = 5.0  # a full catch-up of every gallery at least this often, notified or not
    retention_s: float = 86_400.0  # changes older than this are pruned from the log
    prune_every_s: float = 600.0
    # a statement of the follower's own (LISTEN) waits at most this long, and a pruning transaction this long
    # as a whole (None: for ever); past it the connection is cut and the follower connects again
    read_deadline_s: float | None = READ_DEADLINE_S
    write_deadline_s: float | None = WRITE_DEADLINE_S


class Follower:
    """`sync_catalog()` opens and closes galleries as the catalog says; `catch_up(schema)` catches one gallery
    up (None: every gallery). Both come from the registry; the thread calls them."""

    def __init__(
        self,
        url: str,
        *,
        sync_catalog: Callable[[], None],
        catch_up: Callable[[str | None], None],
        config: FollowConfig | None = None,
    ) -> None:
        self.url = url
        self.config = config or FollowConfig()
        self._sync_catalog = sync_catalog
        self._catch_up = catch_up
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._state = FollowerState(listening=False, error=None, last_sync=None)
        self._conn: psycopg.Connection | None = None  # the listening connection, while there is one

    @property
    def state(self) -> FollowerState:
        with self._lock:
            return self._state

    @property
    def stopping(self) -> bool:
        """`stop` was called: long work on the thread (opening galleries) ends early."""
        return self._stop.is_set()

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="change-log-follower", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        with self._lock:
            conn = self._conn
        if conn is not None:
            sever(conn)  # a wait for notifications wakes now, not at its timeout
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                self._listen()
                failures = 0
            except Exception as exc:  # the server went away, a gallery failed to open...: retried
                if self._stop.is_set():
                    break  # the connection was severed by `stop`
                self._set(listening=False, error=f"{type(exc).__name__}: {exc}")
                log.warning(
                    "change log follower: %s; retrying", exc, exc_info=not isinstance(exc, GalleryError)
                )
                self._stop.wait(RETRY_S[min(failures, len(RETRY_S) - 1)])
                failures += 1
        self._set(listening=False)

    def _listen(self) -> None:
        """One connection's life: LISTEN, catch everything up, then follow notifications until stopped."""
        with pg_errors("listening to the change log"):
            conn = psycopg.connect(self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S, **KEEPALIVES)
        with self._lock:
            self._conn = conn
        try:
            with conn:
                self._follow(conn)
        finally:
            with self._lock:
                self._conn = None

    def _follow(self, conn: psycopg.Connection) -> None:
        with pg_errors("listening to the change log"):
            QmarkConnection(conn, statement_deadline_s=self.config.read_deadline_s).command(
                f"LISTEN {CHANNEL}"
            )
        self._full_sync()  # what was committed before LISTEN took effect, or while disconnected
        self._set(listening=True, error=None)
        next_poll = time.monotonic() + self.config.poll_s
        next_prune = time.monotonic()
        while not self._stop.is_set():
            with pg_errors("listening to the change log"):
                wait = min(WAIT_S, max(0.0, next_poll - time.monotonic()))
                woken = list(conn.notifies(timeout=wait, stop_after=1))
                if woken:
                    woken += conn.notifies(timeout=0)  # the rest already received
            payloads = {n.payload for n in woken}
            if CATALOG_PAYLOAD in payloads:
                self._sync_catalog()
            for schema in payloads - {CATALOG_PAYLOAD}:
                self._catch_up(schema)
            now = time.monotonic()
            if now >= next_poll:
                self._full_sync()
                next_poll = now + self.config.poll_s
            if now >= next_prune:
                self._prune(conn)
                next_prune = now + self.config.prune_every_s

    def _full_sync(self) -> None:
        self._sync_catalog()
        self._catch_up(None)
        self._set(last_sync=time.time(), error=None)

    def _prune(self, conn: psycopg.Connection) -> None:
        """Prune the log a batch a transaction, each under the write deadline, until nothing older is left."""
        qmark, where, gone = QmarkConnection(conn), "pruning the change log", 0
        while not self._stop.is_set():
            with write_transaction(qmark, self.config.write_deadline_s, where=where):
                step = changes.prune(qmark, older_than_s=self.config.retention_s)
            gone += step
            if step < changes.PRUNE_BATCH:
                break
        if gone:
            log.info("change log: pruned %d changes older than %g s", gone, self.config.retention_s)

    def _set(self, **fields: object) -> None:
        with self._lock:
            values = {**self._state.__dict__, **fields}
            self._state = FollowerState(**values)  # type: ignore[arg-type]
