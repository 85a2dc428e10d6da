"""Atomic gallery files: a new store is built whole under a temporary name (schema and meta row in one
transaction) and renamed into place only after that commit, so a kill at any moment leaves either no
gallery or a complete one. `remove_unfinished` clears what a killed create left under the temporary name.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sqlite3
from contextlib import suppress
from pathlib import Path

from gallery.durable import fsync_directory
from gallery.sqlite import create_schema, transaction
from gallery.types import GalleryMeta

log = logging.getLogger(__name__)
CREATING_SUFFIX = ".creating"
SIDE_SUFFIXES = ("-journal", "-wal", "-shm")


def creating_path(path: Path) -> Path:
    """Where the store for `path` is built before it is renamed into place."""
    return path.with_name(path.name + CREATING_SUFFIX)


def unfinished_files(path: Path) -> list[Path]:
    """The temporary file for `path` and the journal files SQLite may keep beside it."""
    temp = creating_path(path)
    return [temp, *(temp.with_name(temp.name + suffix) for suffix in SIDE_SUFFIXES)]


def write_new_store(path: Path, meta: GalleryMeta) -> None:
    """Build a complete gallery file and rename it to `path` (which the caller made sure is free).

    On any failure nothing is left at either name; the rename is made durable with a directory fsync."""
    temp = creating_path(path)
    _remove(unfinished_files(path))
    published = False
    try:
        _build(temp, meta)
        os.replace(temp, path)
        published = True
        fsync_directory(path.parent)
    except BaseException:
        with suppress(OSError):  # the failure itself is what the caller needs to see
            _remove(unfinished_files(path) + ([path] if published else []))
        raise


def remove_unfinished(directory: Path) -> list[str]:
    """Delete every file a killed create left in `directory`; returns their names."""
    removed = sorted(p.name for p in directory.glob(f"*{CREATING_SUFFIX}*") if p.is_file())
    _remove([directory / name for name in removed])
    if removed:
        fsync_directory(directory)
        log.warning("removed files of unfinished gallery creates: %s", ", ".join(removed))
    return removed


def _build(temp: Path, meta: GalleryMeta) -> None:
    """Schema and meta row in one committed transaction (rollback journal: the file is self-contained)."""
    conn = sqlite3.connect(temp, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous=FULL")
        with transaction(conn):
            create_schema(conn)
            row = dataclasses.asdict(meta)
            columns, marks = ", ".join(row), ", ".join("?" * len(row))
            conn.execute(f"INSERT INTO meta (id, {columns}) VALUES (1, {marks})", tuple(row.values()))
    finally:
        conn.close()


def _remove(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)
