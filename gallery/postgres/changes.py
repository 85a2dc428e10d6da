"""The change log that replicas sharing a gallery follow (`public.sg_changes`, written by the triggers of
`gallery.postgres.schema` in each writing transaction).

Within one gallery, `seq` order is commit order, so a reader keeps one number per gallery, the last seq it
applied, and asks for what lies past it. Rows older than the retention are pruned; the last seq pruned is
kept per gallery, so a reader left further behind than that knows it must reload the gallery instead.
"""

from __future__ import annotations

from gallery.changelog import Changes, Lag
from gallery.postgres.connection import QmarkConnection
from gallery.postgres.schema import LOG_LOCK

PAGE = 10_000  # changes read per catch-up step
PRUNE_BATCH = 50_000  # changes deleted per pruning transaction: each short, however far behind the pruning is


def head(conn: QmarkConnection, schema: str) -> int:
    """The gallery's newest committed seq (0 when its log holds none, nor ever pruned any)."""
    row = conn.execute(
        "SELECT GREATEST((SELECT MAX(seq) FROM public.sg_changes WHERE schema_name = ?), "
        "(SELECT through FROM public.sg_changes_pruned WHERE schema_name = ?), 0)",
        (schema, schema),
    ).fetchone()
    return int(row[0])


def pruned_through(conn: QmarkConnection, schema: str) -> int:
    """The last seq of the gallery's pruned from the log (0: none)."""
    row = conn.execute(
        "SELECT through FROM public.sg_changes_pruned WHERE schema_name = ?", (schema,)
    ).fetchone()
    return 0 if row is None else int(row[0])


def since(conn: QmarkConnection, schema: str, after: int, *, limit: int = PAGE) -> Changes:
    """The gallery's changes with seq > `after`, up to `limit` of them, folded."""
    rows = conn.execute(
        "SELECT seq, op, reference_id FROM public.sg_changes WHERE schema_name = ? AND seq > ? "
        "ORDER BY seq LIMIT ?",
        (schema, int(after), int(limit)),
    ).fetchall()
    if not rows:
        return Changes(last_seq=int(after))
    added = tuple(int(r[2]) for r in rows if r[1] == "add")
    deleted = tuple(int(r[2]) for r in rows if r[1] == "delete")
    meta = any(r[1] == "meta" for r in rows)
    return Changes(int(rows[-1][0]), added, deleted, meta, more=len(rows) == limit)


def lag(conn: QmarkConnection, schema: str, after: int) -> Lag:
    """How many of the gallery's changes lie past `after`, and when the oldest of them committed."""
    count, oldest = conn.execute(
        "SELECT COUNT(*), MIN(at) FROM public.sg_changes WHERE schema_name = ? AND seq > ?",
        (schema, int(after)),
    ).fetchone()
    return Lag(int(count), oldest)


def prune(conn: QmarkConnection, *, older_than_s: float, limit: int = PRUNE_BATCH) -> int:
    """(inside the caller's transaction) Delete the oldest `limit` changes (by seq) of those older than
    `older_than_s` seconds, recording per gallery the last seq pruned; returns how many rows went (fewer than
    `limit`: none older is left). Holds the log's lock alone until the commit."""
    conn.execute("SELECT pg_advisory_xact_lock(?)", (LOG_LOCK,))
    rows = conn.execute(
        "WITH gone AS (DELETE FROM public.sg_changes WHERE seq IN (SELECT seq FROM public.sg_changes "
        "WHERE at < clock_timestamp() - make_interval(secs => ?) ORDER BY seq LIMIT ?) "
        "RETURNING schema_name, seq), "
        "marks AS (INSERT INTO public.sg_changes_pruned (schema_name, through) "
        "SELECT schema_name, MAX(seq) FROM gone GROUP BY schema_name "
        "ON CONFLICT (schema_name) DO UPDATE SET through = GREATEST(sg_changes_pruned.through, excluded.through)) "
        "SELECT COUNT(*) FROM gone",
        (float(older_than_s), int(limit)),
    ).fetchone()
    return int(rows[0])


def forget(conn: QmarkConnection, schema: str) -> None:
    """(inside the caller's transaction) A deleted gallery's log and pruning mark, under the log's lock shared
    (deletes of other galleries go on; a prune waits, or is waited for)."""
    conn.execute("SELECT pg_advisory_xact_lock_shared(?)", (LOG_LOCK,))
    conn.execute("DELETE FROM public.sg_changes WHERE schema_name = ?", (schema,))
    conn.execute("DELETE FROM public.sg_changes_pruned WHERE schema_name = ?", (schema,))
