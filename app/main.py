"""`create_app(settings)`: the FastAPI application, its lifespan, middleware, error handlers and routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI

from app.auth import ApiKeyMiddleware
from app.bodylimit import BodyLimitMiddleware
from app.errors import install_error_handlers
from app.headmethod import HeadAsGet
from app.hotpath import IdentifyHotPath
from app.metrics import Metrics, RequestMetricsMiddleware
from app.openapi import refine
from app.routes import (
    enroll,
    galleries,
    identify,
    identities,
    models,
    ops,
    reference_ids,
    references,
    ui,
    verify,
)
from app.runtime import Runtime
from app.schemas import ErrorBody
from app.settings import Settings
from app.strictform import FormWatch, strict_form

VERSION = "0.1.0"
# the error envelope's statuses (README "Errors"), declared on every route so that generated clients expect them
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (400, 401, 404, 409, 413, 415, 422, 429, 500, 503, 507)
}
ERROR_RESPONSES[429]["headers"] = {
    "Retry-After": {"description": "Seconds to wait before trying again.", "schema": {"type": "integer"}}
}
TELEMETRY_OFF = {"tracing": False, "metrics": False, "logs": False, "operation_spans": False}
ROUTERS = (
    galleries.router,
    identities.router,
    references.router,
    reference_ids.router,
    enroll.router,
    identify.router,
    verify.router,
    ops.router,
    models.router,
    ui.router,
)


def create_app(settings: Settings | None = None) -> FastAPI:
    """The service over `settings.models_dir` and `settings.data_dir`; its lifespan starts and stops all."""
    settings = settings or Settings()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = Runtime(settings, metrics)
        app.state.runtime = runtime
        try:
            await runtime.start()
            yield
        finally:
            await runtime.stop()

    app = FastAPI(
        title="Siamese Gallery",
        version=VERSION,
        summary="Few-shot image recognition: enroll, verify and identify over durable galleries.",
        lifespan=lifespan,
        telemetry=None if settings.opentelemetry else TELEMETRY_OFF,
        dependencies=[Depends(strict_form)],
        redirect_slashes=False,  # a 307 for `/x/` sends a DELETE of `/identities/..` (`/`) on to the gallery
    )
    app.state.settings = settings
    app.state.metrics = metrics
    install_error_handlers(app)
    app.add_middleware(FormWatch)  # innermost: only what reaches the routes is read twice
    if settings.identify_hot_path and not settings.opentelemetry:  # inside the key and body checks
        app.add_middleware(IdentifyHotPath, route=identify.route(), metrics=metrics)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_upload_bytes)
    app.add_middleware(ApiKeyMiddleware, keys=settings.api_keys)  # before any body is read
    app.add_middleware(HeadAsGet)  # HEAD runs as GET, body dropped; outside the key check, which it passes on
    app.add_middleware(RequestMetricsMiddleware, metrics=metrics)  # outermost: counts every answer
    for router in ROUTERS:
        app.include_router(router, responses=ERROR_RESPONSES)
    generated = app.openapi  # FastAPI's: cached, and rebuilt when the routes change
    last: list[dict[str, Any]] = []  # [the document FastAPI gave, its refinement]

    def openapi() -> dict[str, Any]:
        raw = generated()
        if not last or last[0] is not raw:
            limits = {"api_keys": bool(settings.api_keys), "max_images": settings.max_images_per_request}
            last[:] = [raw, refine(raw, **limits)]
        return last[1]

    app.openapi = openapi  # type: ignore[method-assign]
    return app
