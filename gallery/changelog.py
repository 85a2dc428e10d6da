"""What other writers of a shared store committed: the change log a gallery follows when several service
replicas share its store (PostgreSQL, `gallery.postgres.changes`). A SQLite file has one writer, its own
process, and no log.

Reference ids are never reused, so a page of changes folds into the ids added, the ids deleted and whether
the meta row changed; applying a page twice, or a change already made locally, changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class Changes:
    """A page of a gallery's log past some seq, folded."""

    last_seq: int  # the newest seq read: the cursor once these are applied
    added: tuple[int, ...] = ()  # reference ids added (some may be in `deleted` too)
    deleted: tuple[int, ...] = ()
    meta: bool = False  # the meta row was rewritten (a threshold, or a model switch)
    more: bool = False  # the page was full: read on from `last_seq`

    @property
    def empty(self) -> bool:
        return not (self.added or self.deleted or self.meta)


@dataclass(frozen=True)
class Lag:
    """How far a gallery's cursor is behind its log."""

    changes: int  # changes committed past the cursor
    oldest_at: datetime | None = None  # when the oldest of them committed

    def seconds(self, now: datetime | None = None) -> float:
        """How long the oldest change not applied has waited (0 when none)."""
        if self.oldest_at is None:
            return 0.0
        return max(((now or datetime.now(UTC)) - self.oldest_at).total_seconds(), 0.0)


NO_LAG = Lag(0)


@dataclass(frozen=True)
class FollowerState:
    """Whether a replica follows its store's change log now."""

    listening: bool  # connected and woken by the other writers' notifications
    error: str | None  # the last failure to follow, while it stands
    last_sync: float | None  # time.time() of the last catch-up of every gallery that succeeded
