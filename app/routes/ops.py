"""Operations routes: liveness and readiness (open even with API keys), and Prometheus metrics."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from app.deps import MetricsDep, RuntimeDep
from app.routes.galleries import index_out
from app.runtime import Runtime, blocking
from app.schemas import GalleryReady, Health, ModelReady, Ready
from gallery.errors import GalleryNotFound
from gallery.gallery import Gallery
from gallery.storage import StorageProblem

router = APIRouter(tags=["operations"])
MAX_DAMAGED_LISTED = 100  # damaged references named per gallery in /ready; `damaged_count` has them all


class UnavailableGalleryOut(BaseModel):
    file: str = Field(description="The gallery's file in the galleries folder.")
    reason: str = Field(
        description="Why it could not be opened; its requests answer 503 gallery_unavailable."
    )


class StorageProblemOut(BaseModel):
    code: str = Field(
        description="`storage_full`, `storage_error` or `store_corrupt`, as the write answered."
    )
    message: str
    since: str = Field(description="When the failed write happened (ISO 8601, UTC).")


class DamagedReferenceOut(BaseModel):
    reference_id: int
    reason: str = Field(description="What is wrong with its stored embedding.")


class DegradedGalleryOut(BaseModel):
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


class ReadyOut(Ready):
    unavailable_galleries: dict[str, UnavailableGalleryOut] = Field(
        default_factory=dict,
        description="Gallery files that could not be opened at start-up (damaged, or an unfinished create); "
        "`DELETE /galleries/{name}` removes one.",
    )
    degraded_galleries: dict[str, DegradedGalleryOut] = Field(
        default_factory=dict,
        description="Open galleries that serve, but whose writes fail or whose store holds damaged references.",
    )
    storage: StorageProblemOut | None = Field(
        default=None,
        description="The galleries folder: the last gallery create or delete failed for storage reasons.",
    )


def _problem_out(problem: StorageProblem | None) -> StorageProblemOut | None:
    if problem is None:
        return None
    since = datetime.fromtimestamp(problem.since, UTC).isoformat(timespec="seconds")
    return StorageProblemOut(code=problem.code, message=problem.message, since=since)


def _degraded(gallery: Gallery, problem: StorageProblem | None) -> DegradedGalleryOut | None:
    damaged = gallery.damaged_references
    if problem is None and not damaged:
        return None
    listed = sorted(damaged.items())[:MAX_DAMAGED_LISTED]
    return DegradedGalleryOut(
        storage=_problem_out(problem),
        damaged_count=len(damaged),
        damaged_references=[DamagedReferenceOut(reference_id=i, reason=why) for i, why in listed],
    )


def _ready(rt: Runtime) -> ReadyOut:
    models = {
        name: ModelReady(provider=e.provider, sha256=e.sha256, dim=e.dim, threshold=e.card.threshold.value)
        for name, e in rt.models.encoders.items()
    }
    problems = rt.registry.storage_problems(probe_interval_s=rt.settings.storage_probe_s)
    galleries, degraded_galleries = {}, {}
    for info in rt.registry.list():
        with contextlib.suppress(GalleryNotFound):  # deleted since the listing
            gallery = rt.registry.get(info.name)
            status, message = rt.gallery_status(gallery)
            galleries[info.name] = GalleryReady(
                status=status, model=info.model, message=message, index=index_out(gallery)
            )
            if (degraded_one := _degraded(gallery, problems.get(info.name))) is not None:
                degraded_galleries[info.name] = degraded_one
    unavailable = {
        g.name: UnavailableGalleryOut(file=g.file, reason=g.reason) for g in rt.registry.unavailable()
    }
    folder = _problem_out(problems.get(""))
    degraded = bool(rt.models.skipped or unavailable or degraded_galleries or folder)
    degraded = degraded or any(g.status != "ready" for g in galleries.values())
    return ReadyOut(
        status="degraded" if degraded else "ready",
        models=models,
        skipped_models=dict(rt.models.skipped),
        galleries=galleries,
        unavailable_galleries=unavailable,
        degraded_galleries=degraded_galleries,
        storage=folder,
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


@router.get("/metrics", response_class=Response)
async def read_metrics(rt: RuntimeDep, metrics: MetricsDep) -> Response:
    """Prometheus metrics: requests, latencies, batch sizes, queue depth, gallery sizes."""
    metrics.set_galleries(await blocking(rt.registry.list))
    body, content_type = metrics.render()
    return Response(content=body, media_type=content_type)
