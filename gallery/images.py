"""Kept reference images and thumbnails in a gallery's store: written with their references, in the same
transaction, and deleted with them (ON DELETE CASCADE); two tables apart from the references, so that
reading embeddings never pages through image bytes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from gallery.types import KeptImage


def insert(conn: sqlite3.Connection, ids: Sequence[int], images: Sequence[KeptImage]) -> None:
    """(inside the caller's transaction) One image and one thumbnail row per new reference id."""
    if len(ids) != len(images):
        raise ValueError(f"need exactly one kept image per reference ({len(ids)}), got {len(images)}")
    conn.executemany(
        "INSERT INTO reference_images (reference_id, content_type, reencoded, width, height, data) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [
            (i, m.content_type, int(m.reencoded), m.width, m.height, m.data)
            for i, m in zip(ids, images, strict=True)
        ],
    )
    conn.executemany(
        "INSERT INTO reference_thumbnails (reference_id, content_type, data) VALUES (?, ?, ?)",
        [(i, m.thumbnail_type, m.thumbnail) for i, m in zip(ids, images, strict=True)],
    )


def fetch(conn: sqlite3.Connection, reference_id: int, *, thumbnail: bool) -> tuple[bytes, str] | None:
    """(bytes, content type) of a reference's kept image or thumbnail; None when none was kept."""
    table = "reference_thumbnails" if thumbnail else "reference_images"
    row = conn.execute(
        f"SELECT data, content_type FROM {table} WHERE reference_id = ?", (int(reference_id),)
    ).fetchone()
    return None if row is None else (bytes(row[0]), str(row[1]))


def kept_count(conn: sqlite3.Connection) -> int:
    """How many references have their image kept."""
    return int(conn.execute("SELECT COUNT(*) FROM reference_images").fetchone()[0])
