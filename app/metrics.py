"""Prometheus metrics with one registry per app (apps in one process never collide), and the request timer."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gallery.migration import MigrationState
from gallery.types import GalleryInfo

BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


class Metrics:
    """Every series the service exports."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        reg = self.registry
        self.requests = Counter(
            "sg_http_requests",
            "HTTP requests by route and status",
            ["method", "route", "status"],
            registry=reg,
        )
        self.latency = Histogram(
            "sg_http_request_duration_seconds",
            "HTTP request latency by route",
            ["method", "route"],
            registry=reg,
        )
        self.batch_size = Histogram(
            "sg_batch_size", "Images per model call", ["model"], buckets=BATCH_BUCKETS, registry=reg
        )
        self.identify_readers = Counter(
            "sg_identify_reader",
            "POST /identify requests by what read them: the hot path, or the FastAPI route it passed them to",
            ["reader"],
            registry=reg,
        )
        self.queue_depth = Gauge("sg_queue_depth", "Images waiting for the model", ["model"], registry=reg)
        self.identities = Gauge("sg_gallery_identities", "Identities per gallery", ["gallery"], registry=reg)
        self.references = Gauge("sg_gallery_references", "References per gallery", ["gallery"], registry=reg)
        self.migration_references = Gauge(
            "sg_migration_references",
            "A gallery's model migration: references re-embedded (done), failed, and in the gallery (total)",
            ["gallery", "count"],
            registry=reg,
        )
        self.migration_running = Gauge(
            "sg_migration_running", "1 while a gallery's model migration runs", ["gallery"], registry=reg
        )

    def batch_observer(self, model: str) -> Callable[[int], None]:
        """A callback for the batcher: records one batch size."""
        child = self.batch_size.labels(model=model)
        return child.observe

    def watch_queue(self, model: str, depth: Callable[[], int]) -> None:
        """Read the queue depth from the batcher at scrape time."""
        self.queue_depth.labels(model=model).set_function(depth)

    def set_galleries(self, infos: Iterable[GalleryInfo]) -> None:
        """Replace the gallery size series with fresh counts (deleted galleries disappear)."""
        self.identities.clear()
        self.references.clear()
        for info in infos:
            self.identities.labels(gallery=info.name).set(info.identities)
            self.references.labels(gallery=info.name).set(info.references)

    def set_migration(self, gallery: str, state: MigrationState | None) -> None:
        """A gallery's migration progress, as last reported by its task."""
        if state is None:
            return
        for count in ("done", "failed", "total"):
            self.migration_references.labels(gallery=gallery, count=count).set(getattr(state, count))
        self.migration_running.labels(gallery=gallery).set(1 if state.state == "running" else 0)

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class RequestMetricsMiddleware:
    """Counts and times every HTTP request by method, route template and status."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        start = time.perf_counter()

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            method = scope["method"]
            self.metrics.requests.labels(method=method, route=route, status=str(status)).inc()
            self.metrics.latency.labels(method=method, route=route).observe(time.perf_counter() - start)
