"""Storage failures (a full disk, an I/O error, a damaged page), from SQLite or the OS, as named gallery errors."""

from __future__ import annotations

import errno
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

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
