"""Operations routes: liveness and readiness (open even with API keys), and Prometheus metrics."""

from __future__ import annotations

import contextlib

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from app.deps import MetricsDep, RuntimeDep
from app.routes.galleries import index_out
from app.runtime import Runtime, blocking
from app.schemas import GalleryReady, Health, ModelReady, Ready
from gallery.errors import GalleryNotFound

router = APIRouter(tags=["operations"])


class UnavailableGalleryOut(BaseModel):
    file: str = Field(description="The gallery's file in the galleries folder.")
    reason: str = Field(
        description="Why it could not be opened; its requests answer 503 gallery_unavailable."
    )


class ReadyOut(Ready):
    unavailable_galleries: dict[str, UnavailableGalleryOut] = Field(
        default_factory=dict,
        description="Gallery files that could not be opened at start-up (damaged, or an unfinished create); "
        "`DELETE /galleries/{name}` removes one.",
    )


def _ready(rt: Runtime) -> ReadyOut:
    models = {
        name: ModelReady(provider=e.provider, sha256=e.sha256, dim=e.dim, threshold=e.card.threshold.value)
        for name, e in rt.models.encoders.items()
    }
    galleries = {}
    for info in rt.registry.list():
        with contextlib.suppress(GalleryNotFound):  # deleted since the listing
            gallery = rt.registry.get(info.name)
            status, message = rt.gallery_status(gallery)
            galleries[info.name] = GalleryReady(
                status=status, model=info.model, message=message, index=index_out(gallery)
            )
    unavailable = {
        g.name: UnavailableGalleryOut(file=g.file, reason=g.reason) for g in rt.registry.unavailable()
    }
    degraded = bool(rt.models.skipped or unavailable) or any(g.status != "ready" for g in galleries.values())
    return ReadyOut(
        status="degraded" if degraded else "ready",
        models=models,
        skipped_models=dict(rt.models.skipped),
        galleries=galleries,
        unavailable_galleries=unavailable,
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
