"""Operations routes: liveness and readiness (open even with API keys), Prometheus metrics, and clearing a
gallery's rollback report."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

from fastapi import APIRouter, Response
from pydantic import Field

from app.deps import MetricsDep, RuntimeDep
from app.routes.galleries import index_out
from app.runtime import Runtime, blocking
from app.schemas import ApiModel, GalleryReady, Health, ModelReady, Ready
from gallery.errors import GalleryError, GalleryNotFound
from gallery.gallery import Gallery
from gallery.rollback import Rollback
from gallery.storage import StorageProblem

router = APIRouter(tags=["operations"])
MAX_DAMAGED_LISTED = 100  # damaged references named per gallery in /ready; `damaged_count` has them all


class UnavailableGalleryOut(ApiModel):
    file: str = Field(description="The gallery's file in the galleries folder.")
    reason: str = Field(
        description="Why it could not be opened; its requests answer 503 gallery_unavailable."
    )


class StorageProblemOut(ApiModel):
    code: str = Field(
        description="`storage_full`, `storage_error` or `store_corrupt`, as the write answered."
    )
    message: str
    since: str = Field(description="When the failed write happened (ISO 8601, UTC).")


class DamagedReferenceOut(ApiModel):
    reference_id: int
    reason: str = Field(description="What is wrong with its stored embedding.")


class RollbackOut(ApiModel):
    reason: str
    found_at: str = Field(description="When the gallery opened and found it (ISO 8601, UTC).")
    snapshot_max_id: int = Field(description="The largest reference id the index snapshot recorded.")
    store_last_id: int = Field(description="The store's last reference id when found (lower: rolled back).")
    snapshot_references: int
    store_references: int = Field(description="References the store held when found: what is served.")
    lost_count: int | None = Field(
        description="References in the snapshot that the store lacks; null when the snapshot's ids were "
        "unreadable (then ids store_last_id+1..snapshot_max_id that had not been deleted are lost)."
    )
    lost_ids: list[int] = Field(description="The first 1,000 of them, ascending: re-enroll these.")
    restored_count: int = Field(description="References deleted before the snapshot that are back.")
    restored_ids: list[int] = Field(description="The first 1,000 of them: delete these again if need be.")


class RollbackCleared(ApiModel):
    gallery: str
    cleared: RollbackOut | None = Field(description="The record taken off, or null when there was none.")


class DegradedGalleryOut(ApiModel):
    rollback: RollbackOut | None = Field(
        default=None,
        description="The store was found rolled back under its index snapshot (a stale `-wal` or an older "
        "file copied back): acknowledged references are gone. The gallery serves what SQLite holds; new ids "
        "start past the lost ones. On record across restarts until `DELETE /galleries/{name}/rollback`.",
    )
    storage: StorageProblemOut | None = Field(
        default=None,
        description="The last write failed for storage reasons; cleared once a write to the gallery succeeds "
        "(a write that changes nothing is tried every SG_STORAGE_PROBE_S seconds while this stands).",
    )
    damaged_count: int = Field(default=0, description="References kept out of the index as damaged.")
    damaged_references: list[DamagedReferenceOut] = Field(
        default_factory=list,
        description=f"The first {MAX_DAMAGED_LISTED} of them: stored embeddings that are not finite and unit "
        "norm, which are never searched (delete them and enroll again).",
    )


class GalleryLagOut(ApiModel):
    changes: int = Field(description="Changes other replicas committed that this one has not applied yet.")
    seconds: float = Field(description="How long the oldest of them has waited.")
    error: str | None = Field(default=None, description="Why the last catch-up failed, while it stands.")


class ReplicationOut(ApiModel):
    listening: bool = Field(
        description="Connected to PostgreSQL and woken by the other replicas' writes (LISTEN/NOTIFY)."
    )
    error: str | None = Field(
        default=None,
        description="The last failure to follow the log, while it stands; or that the database did not say how "
        "far behind within /ready's deadline (1 s; behind_changes is null then).",
    )
    last_sync: str | None = Field(
        description="When every gallery was last caught up with the change log (ISO 8601, UTC)."
    )
    behind_changes: int | None = Field(
        description="Changes not applied yet, over all galleries; null while not listening (unknown: the "
        "database is not answering)."
    )
    behind_s: float | None = Field(
        description="How long the oldest change not applied yet has waited, in seconds; null while not listening."
    )
    galleries: dict[str, GalleryLagOut] = Field(
        default_factory=dict, description="The galleries behind the log, or failing to catch up."
    )


class ReadyOut(Ready):
    unavailable_galleries: dict[str, UnavailableGalleryOut] = Field(
        default_factory=dict,
        description="Gallery files that could not be opened at start-up (damaged, or an unfinished create); "
        "`DELETE /galleries/{name}` removes one.",
    )
    degraded_galleries: dict[str, DegradedGalleryOut] = Field(
        default_factory=dict,
        description="Open galleries that serve, but whose writes fail, whose store holds damaged references, "
        "or whose store was rolled back under its snapshot.",
    )
    storage: StorageProblemOut | None = Field(
        default=None,
        description="The galleries folder: the last gallery create or delete failed for storage reasons.",
    )
    replication: ReplicationOut | None = Field(
        default=None,
        description="With SG_DATABASE_URL: how far this replica is behind the other replicas' writes. "
        "Degraded while it is not listening or a gallery fails to catch up.",
    )


def _problem_out(problem: StorageProblem | None) -> StorageProblemOut | None:
    if problem is None:
        return None
    since = datetime.fromtimestamp(problem.since, UTC).isoformat(timespec="seconds")
    return StorageProblemOut(code=problem.code, message=problem.message, since=since)


def _rollback_out(rollback: Rollback | None) -> RollbackOut | None:
    if rollback is None:
        return None
    return RollbackOut(
        reason=rollback.reason,
        found_at=rollback.found_at,
        snapshot_max_id=rollback.snapshot_max_id,
        store_last_id=rollback.store_last_id,
        snapshot_references=rollback.snapshot_rows,
        store_references=rollback.store_rows,
        lost_count=rollback.lost_count,
        lost_ids=list(rollback.lost_ids),
        restored_count=rollback.restored_count,
        restored_ids=list(rollback.restored_ids),
    )


def _degraded(gallery: Gallery, problem: StorageProblem | None) -> DegradedGalleryOut | None:
    damaged, rollback = gallery.damaged_references, gallery.rollback
    if problem is None and not damaged and rollback is None:
        return None
    listed = sorted(damaged.items())[:MAX_DAMAGED_LISTED]
    return DegradedGalleryOut(
        rollback=_rollback_out(rollback),
        storage=_problem_out(problem),
        damaged_count=len(damaged),
        damaged_references=[DamagedReferenceOut(reference_id=i, reason=why) for i, why in listed],
    )


def _replication(rt: Runtime) -> ReplicationOut | None:
    state = rt.registry.replication()
    if state is None:
        return None
    last = None if state.last_sync is None else datetime.fromtimestamp(state.last_sync, UTC)
    out = ReplicationOut(
        listening=state.listening,
        error=state.error,
        last_sync=None if last is None else last.isoformat(timespec="seconds"),
        behind_changes=None,
        behind_s=None,
    )
    if not state.listening:  # the database is not answering the follower: asking it per gallery would hang
        return out
    lags = rt.lag_probe.ask(lambda: _gallery_lags(rt))
    if lags is None:  # listening, but the database did not answer in time: how far behind is unknown
        waited = f"the database did not say how far behind within {rt.lag_probe.deadline_s:g} s"
        return out.model_copy(update={"error": out.error or waited})
    return out.model_copy(
        update={
            "behind_changes": sum(g.changes for g in lags.values()),
            "behind_s": max((g.seconds for g in lags.values()), default=0.0),
            "galleries": lags,
        }
    )


def _gallery_lags(rt: Runtime) -> dict[str, GalleryLagOut]:
    """The galleries behind the change log or failing to catch up (asked of the database, per gallery)."""
    lags = {}
    for name in rt.registry.names():
        with contextlib.suppress(GalleryNotFound):
            error = rt.registry.follow_error(name)
            try:
                lag = rt.registry.get(name).log_lag()
            except GalleryError as exc:  # storage trouble: named, and the gallery counted as failing
                lags[name] = GalleryLagOut(changes=0, seconds=0.0, error=error or str(exc))
                continue
            if lag.changes or error:
                lags[name] = GalleryLagOut(changes=lag.changes, seconds=lag.seconds(), error=error)
    return lags


def _ready(rt: Runtime) -> ReadyOut:
    models = {
        name: ModelReady(provider=e.provider, sha256=e.sha256, dim=e.dim, threshold=e.card.threshold.value)
        for name, e in rt.models.encoders.items()
    }
    # a standing failure is probed with a write, under a deadline: a database that hangs leaves it standing
    probe_s = rt.settings.storage_probe_s
    probed = rt.storage_probe.ask(lambda: rt.registry.storage_problems(probe_interval_s=probe_s))
    problems = rt.registry.standing_storage_problems() if probed is None else probed
    galleries, degraded_galleries = {}, {}
    for name in rt.registry.names():  # from memory: /ready reads no store (a hanging server would hang it)
        with contextlib.suppress(GalleryNotFound):  # deleted since the listing
            gallery = rt.registry.get(name)
            status, message = rt.gallery_status(gallery)
            galleries[name] = GalleryReady(
                status=status, model=gallery.meta.model, message=message, index=index_out(gallery)
            )
            if (degraded_one := _degraded(gallery, problems.get(name))) is not None:
                degraded_galleries[name] = degraded_one
    unavailable = {
        g.name: UnavailableGalleryOut(file=g.file, reason=g.reason) for g in rt.registry.unavailable()
    }
    folder = _problem_out(problems.get(""))
    replication = _replication(rt)
    degraded = bool(rt.models.skipped or unavailable or degraded_galleries or folder)
    if replication is not None:
        degraded = (
            degraded
            or not replication.listening
            or replication.behind_changes is None
            or any(g.error for g in replication.galleries.values())
        )
    degraded = degraded or any(g.status != "ready" for g in galleries.values())
    return ReadyOut(
        status="degraded" if degraded else "ready",
        models=models,
        skipped_models=dict(rt.models.skipped),
        galleries=galleries,
        unavailable_galleries=unavailable,
        degraded_galleries=degraded_galleries,
        storage=folder,
        replication=replication,
    )


@router.get("/health", response_model=Health)
async def read_health() -> Health:
    """Liveness: the process answers."""
    return Health()


@router.get("/ready", response_model=ReadyOut, responses={503: {"model": ReadyOut}})
async def read_ready(rt: RuntimeDep, response: Response) -> ReadyOut:
    """Readiness: models loaded (with the execution provider in use), galleries open, refusals named."""
    if not rt.started:
        response.status_code = 503
        return ReadyOut(status="starting", models={}, skipped_models={}, galleries={})
    return await blocking(_ready, rt)


METRICS_RESPONSES = {
    200: {
        "description": "The Prometheus text exposition format (version 0.0.4).",
        "content": {"text/plain": {"schema": {"type": "string"}}},
    }
}


@router.get("/metrics", response_class=Response, responses=METRICS_RESPONSES)
async def read_metrics(rt: RuntimeDep, metrics: MetricsDep) -> Response:
    """Prometheus metrics: requests, latencies, batch sizes, queue depth, gallery sizes."""
    metrics.set_galleries(await blocking(rt.registry.list))
    body, content_type = metrics.render()
    return Response(content=body, media_type=content_type)


@router.delete("/galleries/{name}/rollback", response_model=RollbackCleared, tags=["galleries"])
async def clear_rollback(rt: RuntimeDep, name: str) -> RollbackCleared:
    """Take a gallery's rollback report off record (after re-enrolling what it lost): `/ready` stops naming
    it. Needs the API key like every gallery route; answers null when there was none."""

    def clear() -> Rollback | None:
        return rt.registry.get(name).clear_rollback()

    return RollbackCleared(gallery=name, cleared=_rollback_out(await blocking(clear)))
