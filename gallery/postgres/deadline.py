"""A deadline on one block of work on a PostgreSQL connection.

A server that accepts and then never answers (its processes stalled, as under an I/O stall) holds the calling
thread forever: libpq has no client-side timeout, the server's `statement_timeout` needs the server to run, and
TCP keepalives never fire while the server's kernel still acknowledges. A write holds its gallery's lock
meanwhile, so every request on that gallery queues behind it. When a block outlives its deadline, the
connection's socket is shut down: the call waiting on it fails at once, the pool replaces the connection, and
the caller gets a StorageError naming the deadline. (A commit cut off this way may or may not have landed; it
was never acknowledged, and the caller is told it failed.)
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import psycopg

from gallery.errors import StorageError
from gallery.postgres.watchdog import WATCHDOG


def sever(conn: psycopg.Connection) -> None:
    """Shut the connection's socket down both ways: whatever waits on it wakes to a closed connection."""
    with suppress(OSError, psycopg.Error):  # closed already, or its socket gone
        sock = socket.socket(fileno=os.dup(conn.fileno()))
        try:
            sock.shutdown(socket.SHUT_RDWR)
        finally:
            sock.close()


@contextmanager
def deadline(conn: psycopg.Connection, seconds: float | None, *, where: str) -> Iterator[None]:
    """Run the block against `conn` within `seconds` (None: no deadline); past it the connection is severed
    and the block's failure is raised as a StorageError that says so."""
    if seconds is None:
        yield
        return
    fired = threading.Event()
    settled = threading.Lock()  # the block's end and the expiry exclude each other
    ended = False

    def expire() -> None:
        with settled:
            if ended:  # the block ended as the timer fired: the connection may be lent to another by now
                return
            fired.set()
            sever(conn)

    alarm = WATCHDOG.arm(seconds, expire)
    try:
        yield
    except Exception as exc:  # psycopg's own, or the StorageError a block named it as
        if fired.is_set():
            raise StorageError(f"{where}: PostgreSQL gave no answer within {seconds:g} s") from exc
        raise
    finally:
        with settled:
            ended = True
        alarm.cancel()
