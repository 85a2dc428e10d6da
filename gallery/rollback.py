"""A store rolled back under its snapshot: found, named, and kept on record until an operator clears it.

Reference ids come from SQLite's AUTOINCREMENT sequence and are never reused, so the sequence only grows and
always covers every id a snapshot recorded. A store whose sequence is below its snapshot's max reference id
went back in time (a stale `-wal` copied back, a restored backup, a file copied over): the references the
snapshot holds that the store lacks were acknowledged and are gone, and references deleted before the
snapshot may be back. SQLite is still the truth, so the gallery serves what it holds, but flagged.

The finding is written to `<snapshot>.rollback.json` (durably, before the sequence is raised past the lost
ids so that they are never handed out again), so it outlives restarts until `clear_record` removes it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gallery.durable import fsync_directory, replace_durably
from gallery.sqlite import utc_now

log = logging.getLogger(__name__)
MAX_IDS_KEPT = 1000  # ids kept on record per list; the counts are always whole


@dataclass(frozen=True)
class Rollback:
    """What a rollback took away, as found when the gallery opened."""

    snapshot_max_id: int  # the largest reference id the snapshot recorded
    store_last_id: int  # the store's AUTOINCREMENT sequence when it was found (below snapshot_max_id)
    snapshot_rows: int  # references the snapshot recorded
    store_rows: int  # references the store held when it was found
    lost_count: int | None  # references in the snapshot missing from the store; None: its ids were unreadable
    lost_ids: tuple[int, ...]  # the first MAX_IDS_KEPT of them, ascending
    restored_count: int  # references deleted before the snapshot that the store holds again
    restored_ids: tuple[int, ...]
    found_at: str  # ISO 8601, UTC
    stamp: dict[str, Any]  # which store it belongs to (as the snapshot's stamp)

    @property
    def reason(self) -> str:
        """One sentence for logs and /ready."""
        lost = (
            f"{self.lost_count} references lost"
            if self.lost_count is not None
            else f"references {self.store_last_id + 1}..{self.snapshot_max_id} lost (count unknown: "
            "the snapshot's ids were unreadable)"
        )
        restored = f", {self.restored_count} deleted references back" if self.restored_count else ""
        return (
            f"the store was rolled back under its snapshot (a stale -wal or an older file copied back): its "
            f"last reference id is {self.store_last_id}, the snapshot recorded {self.snapshot_max_id} "
            f"({self.snapshot_rows} references, the store holds {self.store_rows}): {lost}{restored}"
        )


def detect(
    *,
    snapshot_max_id: int,
    snapshot_rows: int,
    snapshot_ids: np.ndarray | None,
    store_last_id: int,
    stored_ids: np.ndarray,
    stamp: dict[str, Any],
) -> Rollback | None:
    """The rollback, if the store's sequence is below the snapshot's max id; else None (deletes alone
    never lower the sequence). Pure: ids ascending int64 arrays, `snapshot_ids` None when unreadable.

    A rolled-back store is an earlier state of the same store, so every snapshot id it lacks was added after
    that state (lost), and every stored id the snapshot lacks was deleted before the snapshot (back again)."""
    if snapshot_max_id <= store_last_id:
        return None
    stored = np.asarray(stored_ids, dtype=np.int64)
    lost_count, lost_ids = None, ()
    restored_count, restored_ids = 0, ()
    if snapshot_ids is not None:
        recorded = np.asarray(snapshot_ids, dtype=np.int64)
        lost = np.setdiff1d(recorded, stored)
        restored = np.setdiff1d(stored, recorded)
        lost_count, lost_ids = len(lost), tuple(int(i) for i in lost[:MAX_IDS_KEPT])
        restored_count, restored_ids = len(restored), tuple(int(i) for i in restored[:MAX_IDS_KEPT])
    return Rollback(
        snapshot_max_id=int(snapshot_max_id),
        store_last_id=int(store_last_id),
        snapshot_rows=int(snapshot_rows),
        store_rows=len(stored),
        lost_count=lost_count,
        lost_ids=lost_ids,
        restored_count=restored_count,
        restored_ids=restored_ids,
        found_at=utc_now(),
        stamp=dict(stamp),
    )


def record_path(snapshot_path: Path) -> Path:
    return snapshot_path.with_name(snapshot_path.name + ".rollback.json")


def write_record(path: Path, rollback: Rollback) -> None:
    """Write the finding durably (temporary file, fsync, rename, directory fsync)."""
    replace_durably(path, lambda tmp: tmp.write_text(json.dumps(asdict(rollback)), encoding="utf-8"))


def read_record(path: Path, *, stamp: dict[str, Any]) -> Rollback | None:
    """The finding on record for the store with `stamp`; None when there is none (or it is another store's,
    or unreadable: logged). A model migration since keeps it: it is the same store."""
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
        rollback = Rollback(
            **{**body, "lost_ids": tuple(body["lost_ids"]), "restored_ids": tuple(body["restored_ids"])}
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError, KeyError) as exc:
        log.error("rollback record %s is unreadable: %s", path.name, exc)
        return None
    return rollback if same_store(rollback.stamp, stamp) else None


STORE_KEYS = ("name", "created_at")  # what names one store; its model may change (a migration) and it stays


def same_store(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two stamps are of one store (a gallery re-created under the same name is another), whatever
    model each was taken under."""
    return all(a.get(key) == b.get(key) for key in STORE_KEYS)


def clear_record(path: Path) -> None:
    path.unlink(missing_ok=True)
    fsync_directory(path.parent)
