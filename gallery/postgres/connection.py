"""PostgreSQL plumbing: connections, transactions, and storage failures as named gallery errors.

Callers write the same `?`-placeholder SQL they write for SQLite (`gallery.images`, `gallery.migration`):
`QmarkConnection` turns it into psycopg's `%s` form, so that one statement serves both stores.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from typing import Any

import psycopg
from psycopg import errors as pg
from psycopg.pq import TransactionStatus

from gallery.errors import GalleryError, GalleryNotFound, StorageError, StorageFull, StoreCorrupt
from gallery.postgres.deadline import deadline

CONNECT_TIMEOUT_S = 10
# a checkout waiting longer (every connection busy, or the server unreachable) fails: long enough that a
# burst queued behind other replicas' writes on the galleries' locks gets through
POOL_WAIT_S = 10.0
# TCP keepalives: a connection to a server that vanished (a host down, a partition) is found dead in about
# 25 s instead of the kernel's two hours; a lease held on it is then known lost on both sides
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3}
# A write transaction waits at most this long on the server before its connection is cut (`deadline`): a server
# that stalls without closing would otherwise hold the write, and its gallery's lock, forever. One transaction
# is bounded as a whole, so it must fit the largest one (a model migration's switch of a whole gallery).
WRITE_DEADLINE_S = 60.0
# Each statement of a read (and each statement outside a write transaction) waits at most this long: a read holds
# its gallery's lock too. One statement reads at most a page of references (65,536 embeddings), so this is ample.
READ_DEADLINE_S = 30.0
# a pooled connection's check, setup and reset: each one statement the server answers in milliseconds
HOUSEKEEPING_DEADLINE_S = 5.0
# once one went unanswered, the server is taken for stalled this long: calls fail at once meanwhile
STALL_HOLD_S = POOL_WAIT_S


def placeholders(sql: str) -> str:
    """`?` outside quoted text becomes `%s`, and a literal `%` becomes `%%` (psycopg's escaping)."""
    out, quote = [], None
    for char in sql:
        if quote is not None:
            quote = None if char == quote else quote
            out.append("%%" if char == "%" else char)
        elif char in "'\"":
            quote = char
            out.append(char)
        elif char == "?":
            out.append("%s")
        else:
            out.append("%%" if char == "%" else char)
    return "".join(out)


class QmarkConnection:
    """One psycopg connection in autocommit mode (transactions are explicit), taking SQLite-style SQL.

    `statement_deadline_s` (None: none) bounds each statement on it (`deadline`); a block bounded as a whole
    (a write transaction) lifts it for its length with `unbounded`."""

    def __init__(self, conn: psycopg.Connection, *, statement_deadline_s: float | None = None) -> None:
        self.raw = conn
        self.statement_deadline_s = statement_deadline_s

    def execute(self, sql: str, params: Sequence[Any] = ()) -> psycopg.Cursor:
        with self._bounded():
            return self.raw.execute(placeholders(sql), tuple(params), prepare=False)

    def executemany(self, sql: str, rows: Any) -> None:
        rows = [tuple(row) for row in rows]
        if rows:
            with self._bounded(), self.raw.cursor() as cursor:
                cursor.executemany(placeholders(sql), rows)

    def command(self, sql: str) -> None:
        """A statement with no parameters and no rows (BEGIN, COMMIT, ...), as it is written."""
        with self._bounded():
            self.raw.execute(sql)

    @contextmanager
    def unbounded(self) -> Iterator[None]:
        """No statement deadline within the block (one bounded as a whole by its own)."""
        saved, self.statement_deadline_s = self.statement_deadline_s, None
        try:
            yield
        finally:
            self.statement_deadline_s = saved

    def _bounded(self) -> AbstractContextManager[None]:
        return deadline(self.raw, self.statement_deadline_s, where="a statement")

    @property
    def in_transaction(self) -> bool:
        return self.raw.info.transaction_status != TransactionStatus.IDLE

    @property
    def usable(self) -> bool:
        return not (self.raw.closed or self.raw.broken)

    def close(self) -> None:
        self.raw.close()


def connect(
    url: str, *, search_path: str | None = None, statement_deadline_s: float | None = READ_DEADLINE_S
) -> QmarkConnection:
    """A new autocommit connection, its setup and each statement on it under `statement_deadline_s` (None:
    none); `search_path`: the schema its unqualified table names mean."""
    with pg_errors("connecting to PostgreSQL"):
        raw = psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S, **KEEPALIVES)
    try:
        with pg_errors("connecting to PostgreSQL"), deadline(raw, statement_deadline_s, where="connecting"):
            if search_path is not None:
                raw.execute(f'SET search_path TO "{search_path}", public')
            _configure(raw)
    except BaseException:
        raw.close()
        raise
    return QmarkConnection(raw, statement_deadline_s=statement_deadline_s)


ISOLATION_LEVELS = ("READ COMMITTED", "REPEATABLE READ", "SERIALIZABLE")


class Pool:
    """Connections to one database, shared by every gallery of a service (psycopg_pool): each is lent for
    one block, with its search_path set to the gallery's schema for that block and reset on return; a
    connection found broken on return is replaced. `max_size` bounds what one service holds open.

    `write_deadline_s` (None: none) bounds each write transaction on a lent connection as a whole
    (`write_deadline`); `read_deadline_s` (None: none) every other statement on it, each on its own. When either
    is set, the pool's own statements (a checkout's check, the schema set and reset) are bounded by
    HOUSEKEEPING_DEADLINE_S: a stalled server fails them instead of holding the thread."""

    def __init__(
        self,
        url: str,
        *,
        max_size: int = 8,
        timeout_s: float = POOL_WAIT_S,
        write_deadline_s: float | None = WRITE_DEADLINE_S,
        read_deadline_s: float | None = READ_DEADLINE_S,
    ) -> None:
        from psycopg_pool import ConnectionPool

        self.write_deadline_s = write_deadline_s
        self.read_deadline_s = read_deadline_s
        bounded = write_deadline_s is not None or read_deadline_s is not None
        self._housekeeping_s = HOUSEKEEPING_DEADLINE_S if bounded else None
        self._stalled_at: float | None = None  # monotonic time a housekeeping statement went unanswered
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=max_size,
            kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT_S, **KEEPALIVES},
            configure=self._bounded(_configure, "configuring a connection"),
            reset=self._bounded(_reset, "resetting a connection"),
            # every checkout first checks the connection: one left broken by a server restart or a failover
            # is replaced there, instead of failing the request that drew it
            check=self._bounded(ConnectionPool.check_connection, "checking a connection", fail_fast=True),
            timeout=timeout_s,
            open=False,
            name="galleries",
        )
        with pg_errors("connecting to PostgreSQL"):
            self._pool.open(wait=True, timeout=CONNECT_TIMEOUT_S)

    @contextmanager
    def connection(self, *, search_path: str | None = None) -> Iterator[QmarkConnection]:
        """A lent connection. While the server is taken for stalled (`stalled`), none is tried: the block
        fails at once with a StorageError, instead of each caller waiting out the pool's timeout in turn."""
        from psycopg_pool import PoolTimeout

        if self.stalled:
            raise StorageError("PostgreSQL left a statement unanswered a moment ago; not waiting on it again")
        try:
            raw = self._pool.getconn()
        except PoolTimeout:
            if self._stalled_at is not None and time.monotonic() - self._stalled_at < 2 * STALL_HOLD_S:
                self._stalled_at = time.monotonic()  # no connection came since: still stalled
            raise
        try:
            with raw:  # what psycopg_pool's own `connection()` does: back to the pool, not closed
                if search_path is not None:
                    with deadline(raw, self._housekeeping_s, where="setting a connection's schema"):
                        raw.execute(f'SET search_path TO "{search_path}", public')
                yield QmarkConnection(raw, statement_deadline_s=self.read_deadline_s)
        finally:
            self._pool.putconn(raw)

    @property
    def stalled(self) -> bool:
        """A housekeeping statement went unanswered within the last STALL_HOLD_S (or the pool has found no
        connection since one did)."""
        return self._stalled_at is not None and time.monotonic() - self._stalled_at < STALL_HOLD_S

    def write_deadline(self, conn: QmarkConnection, *, where: str) -> AbstractContextManager[None]:
        """The deadline a write transaction on `conn` runs under (`bounded_as_a_whole`)."""
        return bounded_as_a_whole(conn, self.write_deadline_s, where=where)

    def close(self) -> None:
        self._pool.close()

    def _bounded(
        self, step: Callable[[psycopg.Connection], None], where: str, *, fail_fast: bool = False
    ) -> Callable[[psycopg.Connection], None]:
        """`step` under the housekeeping deadline; one that goes unanswered marks the server stalled. With
        `fail_fast` (a checkout's check), a step while it is marked fails at once (the pool drops that
        connection) rather than each idle connection waiting out its own deadline in one checkout; a new
        connection's setup is always tried, which is how a server that answers again is found."""

        def run(conn: psycopg.Connection) -> None:
            if fail_fast and self.stalled:
                raise StorageError(f"{where}: PostgreSQL left a statement unanswered a moment ago")
            try:
                with deadline(conn, self._housekeeping_s, where=where):
                    step(conn)
            except StorageError:
                self._stalled_at = time.monotonic()
                raise

        return run


def _configure(conn: psycopg.Connection) -> None:
    conn.execute("SET synchronous_commit TO on")  # acknowledged means on the server's disk


def _reset(conn: psycopg.Connection) -> None:
    conn.execute("RESET search_path")


@contextmanager
def session(source: str | Pool, *, search_path: str | None = None) -> Iterator[QmarkConnection]:
    """A connection for one block: lent by the pool, or (given a URL) a new one closed after."""
    if isinstance(source, Pool):
        with source.connection(search_path=search_path) as conn:
            yield conn
        return
    conn = connect(source, search_path=search_path)
    try:
        yield conn
    finally:
        conn.close()


@contextmanager
def bounded_as_a_whole(conn: QmarkConnection, seconds: float | None, *, where: str) -> Iterator[None]:
    """The block on `conn` within `seconds` (None: none) as a whole, its statements not bounded one by one:
    a write transaction, whose largest statement must fit in the whole."""
    with deadline(conn.raw, seconds, where=where), conn.unbounded():
        yield


@contextmanager
def write_transaction(conn: QmarkConnection, seconds: float | None, *, where: str) -> Iterator[None]:
    """One write transaction on `conn`, bounded as a whole by `seconds` (None: none); storage failures named
    after `where`."""
    with pg_errors(where), bounded_as_a_whole(conn, seconds, where=where), transaction(conn):
        yield


@contextmanager
def writing(source: str | Pool, *, where: str, seconds: float | None) -> Iterator[QmarkConnection]:
    """A connection (`session`) in one `write_transaction`."""
    with pg_errors(where), session(source) as conn, write_transaction(conn, seconds, where=where):
        yield conn


@contextmanager
def transaction(conn: QmarkConnection, *, isolation: str | None = None) -> Iterator[None]:
    """BEGIN ... COMMIT, or ROLLBACK on any exception (including a failed COMMIT); `isolation`: one of
    ISOLATION_LEVELS (None: the server's default, READ COMMITTED)."""
    if isolation is not None and isolation not in ISOLATION_LEVELS:
        raise ValueError(f"isolation must be one of {ISOLATION_LEVELS}, got {isolation!r}")
    conn.command("BEGIN" if isolation is None else f"BEGIN ISOLATION LEVEL {isolation}")
    try:
        yield
        conn.command("COMMIT")
    except BaseException:
        with suppress(psycopg.Error, StorageError):  # a ROLLBACK cut off: the server drops the transaction
            conn.command("ROLLBACK")
        raise


def classify(exc: BaseException, *, where: str) -> GalleryError | None:
    """The named error for a storage failure, or None when `exc` is not one (e.g. a constraint violation)."""
    if isinstance(exc, pg.DiskFull | pg.OutOfMemory | pg.ProgramLimitExceeded):
        return StorageFull(f"{where}: {exc}")
    if isinstance(exc, pg.UndefinedTable | pg.InvalidSchemaName):
        # the gallery's schema is gone: another service sharing the database deleted the gallery
        return GalleryNotFound(f"{where}: the gallery no longer exists (deleted by another service): {exc}")
    if isinstance(exc, pg.DataCorrupted | pg.IndexCorrupted):
        return StoreCorrupt(f"{where}: {exc}")
    if isinstance(
        exc,
        psycopg.OperationalError
        | psycopg.InterfaceError
        | pg.InsufficientResources
        | pg.SystemError
        | pg.ReadOnlySqlTransaction
        | pg.SerializationFailure
        | pg.DeadlockDetected
        | pg.LockNotAvailable,
    ):
        return StorageError(f"{where}: {exc}")
    return None


@contextmanager
def pg_errors(where: str) -> Iterator[None]:
    """Re-raise a PostgreSQL storage failure inside the block as StorageFull / StorageError / StoreCorrupt."""
    try:
        yield
    except psycopg.Error as exc:
        named = classify(exc, where=where)
        if named is None:
            raise
        raise named from exc
