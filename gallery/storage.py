"""Storage failures (a full disk, an I/O error, a damaged page), from SQLite or the OS, as named gallery errors,
and `StorageHealth`: the last such failure of one store or folder, until a later write there succeeds."""

from __future__ import annotations

import errno
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from gallery.errors import GalleryError, StorageError, StorageFull, StoreCorrupt

FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
SQLITE_FULL = 13
SQLITE_CORRUPT_CODES = frozenset({11, 26})  # SQLITE_CORRUPT, SQLITE_NOTADB
# SQLITE_BUSY, _LOCKED, _READONLY, _IOERR, _CANTOPEN, _PROTOCOL, _NOLFS, _AUTH
SQLITE_STORAGE_CODES = frozenset({5, 6, 8, 10, 14, 15, 22, 23})


def classify(exc: BaseException, *, where: str) -> GalleryError | None:
    """The named error for a storage failure, or None when `exc` is not one (e.g. a constraint violation)."""
    if isinstance(exc, OSError):
        kind = StorageFull if exc.errno in FULL_ERRNOS else StorageError
        return kind(f"{where}: {exc.strerror or exc}")
    if not isinstance(exc, sqlite3.Error):
        return None
    code = getattr(exc, "sqlite_errorcode", None)
    primary = None if code is None else code & 0xFF
    if primary == SQLITE_FULL:
        return StorageFull(f"{where}: the disk is full ({exc})")
    if primary in SQLITE_CORRUPT_CODES:
        return StoreCorrupt(f"{where}: {exc}")
    if primary in SQLITE_STORAGE_CODES:
        return StorageError(f"{where}: {exc}")
    return None


@contextmanager
def storage_errors(where: str) -> Iterator[None]:
    """Re-raise a storage failure inside the block as StorageFull / StorageError / StoreCorrupt."""
    try:
        yield
    except (OSError, sqlite3.Error) as exc:
        named = classify(exc, where=where)
        if named is None:
            raise
        raise named from exc


@dataclass(frozen=True)
class StorageProblem:
    """A write that failed for storage reasons: its error code, message and when it happened (Unix time)."""

    code: str
    message: str
    since: float


class StorageHealth:
    """Whether writes to one store (or folder) fail: set by a failed write, cleared by the next that succeeds.

    `watch` wraps every write; `probe` makes a write of its own (at most once per `min_interval_s`) while a
    problem stands, so that a freed disk shows as healthy without waiting for a client's write. A probe that
    fails leaves the problem as first seen."""

    def __init__(self) -> None:
        self._problem: StorageProblem | None = None
        self._probed_at = -float("inf")
        self._lock = threading.Lock()

    @property
    def problem(self) -> StorageProblem | None:
        return self._problem

    @contextmanager
    def watch(self) -> Iterator[None]:
        """Record a storage failure inside the block (and re-raise it); a block that completes clears it. Any
        other error (a missing identity, bad input) says nothing about the storage and changes nothing."""
        try:
            yield
        except (StorageFull, StorageError, StoreCorrupt) as exc:
            with self._lock:
                self._problem = StorageProblem(exc.code, str(exc) or exc.code, time.time())
            raise
        with self._lock:
            self._problem = None

    def probe(self, write: Callable[[], object], *, min_interval_s: float) -> StorageProblem | None:
        """While a problem stands, try `write` (no more often than `min_interval_s`); the problem after it."""
        with self._lock:
            due = time.monotonic() - self._probed_at >= min_interval_s
            if self._problem is None or not due:
                return self._problem
            self._probed_at = time.monotonic()
            first = self._problem
        try:
            with self.watch():
                write()
        except (StorageFull, StorageError, StoreCorrupt):
            with self._lock:  # still failing: the problem stands as first seen (its message, its time)
                self._problem = first
        return self._problem
