"""The long-lived parts of the service (encoders, batchers, galleries), started and stopped by the lifespan.

Galleries are bound to the model that embedded them: one whose model is absent or has another sha256 is
refused (reported by `/ready`, its requests answered with an error) while the rest of the service runs on.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

import anyio
import onnxruntime as ort

from app.batcher import BatchConfig, Batcher
from app.deadline import DeadlineProbe
from app.encoder import Encoder, SessionConfig, choose_providers
from app.errors import ModelNotFound, ModelUnavailable, NotRunning
from app.metrics import Metrics
from app.migration import Migrations
from app.models import LoadedModels, load_models
from app.schemas import GalleryStatus
from app.search import finish_searches
from app.settings import BatchCap, Settings
from gallery.config import IndexConfig
from gallery.errors import GalleryError, GalleryExists, ModelMismatch
from gallery.gallery import Gallery
from gallery.registry import GalleryRegistry
from gallery.types import GalleryInfo
from modelcard import ModelCard
from modelcard.identification import gallery_threshold
from modelcard.serving import card_batch_cap

log = logging.getLogger(__name__)
T = TypeVar("T")


async def blocking(func: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run a blocking call (SQLite, FAISS, file I/O) on a worker thread, off the event loop."""
    return await anyio.to_thread.run_sync(partial(func, *args, **kwargs))


def index_config(settings: Settings) -> IndexConfig:
    """How every gallery's FAISS index is built and searched, from the settings."""
    return IndexConfig(
        use_gpu=settings.device != "cpu",
        ann_min_size=settings.ann_min_size,
        omp_threads=settings.search_threads,
        blas_min_queries=settings.search_blas_min_queries,
        hnsw_m=settings.hnsw_m,
        ef_construction=settings.hnsw_ef_construction,
        ef_search=settings.hnsw_ef_search,
        background_build_min=settings.index_background_build_min,
    )


def gallery_registry(settings: Settings) -> GalleryRegistry:
    """The galleries: in PostgreSQL when SG_DATABASE_URL is set, else SQLite files under SG_DATA_DIR."""
    if settings.database_url is None:
        return GalleryRegistry(settings.data_dir, config=index_config(settings))
    from gallery.postgres import PostgresRegistry  # psycopg: only where PostgreSQL is used
    from gallery.postgres.follower import FollowConfig

    url = settings.database_url.get_secret_value()
    follow = FollowConfig(
        poll_s=settings.replica_poll_s,
        retention_s=settings.change_log_retention_s,
        read_deadline_s=settings.database_read_deadline_s or None,
        write_deadline_s=settings.database_write_deadline_s or None,
    )
    return PostgresRegistry(
        settings.data_dir,
        url,
        config=index_config(settings),
        follow=follow,
        pool_size=settings.database_pool_size,
        write_deadline_s=settings.database_write_deadline_s or None,
        read_deadline_s=settings.database_read_deadline_s or None,
    )


def identify_threshold(
    card: ModelCard, *, own: float | None, identities: int, references: int, fpir: float | None
) -> float:
    """identify's threshold: a gallery's own (`own`), else the card's identification threshold for a gallery
    of this size (stricter as it grows) at `fpir`, else the card's pair threshold."""
    if own is not None:
        return own
    if card.identification is None:
        return card.threshold.value
    return gallery_threshold(card.identification, identities=identities, references=references, fpir=fpir)


class Runtime:
    """Models, their batchers and the galleries; `start`/`stop` are symmetric and owned by the lifespan."""

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.models = LoadedModels()
        self.batchers: dict[str, Batcher] = {}
        self.registry = gallery_registry(settings)
        self.decode_pool: ThreadPoolExecutor | None = None  # SG_DECODE_THREADS threads, from start to stop
        self.migrations = Migrations(self)  # model migrations' background tasks, from start to stop
        # /ready's questions to the store, each under a deadline: how far behind the log; do writes work again
        self.lag_probe = DeadlineProbe(thread_name="lag-probe")
        self.storage_probe = DeadlineProbe(thread_name="storage-probe")
        self.started = False
        self._switch_interval_before: float | None = None

    async def start(self) -> None:
        """Load models, start one batcher per model, open the galleries and create the default ones."""
        self._switch_interval_before = sys.getswitchinterval()
        sys.setswitchinterval(self.settings.gil_switch_interval_ms / 1000.0)
        choose_providers(self.settings.device, available=ort.get_available_providers())  # fail fast on cuda
        self.decode_pool = ThreadPoolExecutor(self.settings.decode_threads, thread_name_prefix="decode")
        self.models = await blocking(load_models, self.settings.models_dir, self._session_config())
        unknown = sorted(set(self.settings.model_max_batch) - {*self.models.encoders, *self.models.skipped})
        if unknown:  # a misspelled name would leave that model's cap at SG_MAX_BATCH without a word
            log.warning(
                "SG_MODEL_MAX_BATCH names no model in %s: %s (its models: %s)",
                self.settings.models_dir,
                ", ".join(unknown),
                ", ".join(sorted(self.models.encoders)) or "none",
            )
        for name, encoder in self.models.encoders.items():
            cap = self.batch_cap(name)
            log.info("model %s: at most %d images per call (%s)", name, cap.value, cap.source)
            batcher = Batcher(
                encoder.run,
                self._batch_config(cap.value),
                name=name,
                on_batch=self.metrics.batch_observer(name),
                postprocess=finish_searches,
            )
            await batcher.start()
            self.metrics.watch_queue(name, lambda b=batcher: b.queue_depth)
            self.batchers[name] = batcher
        await blocking(self.registry.open)
        await blocking(self._create_default_galleries)
        for name, problem in (await blocking(self.binding_problems)).items():
            log.error("gallery %s refused: %s", name, problem[1])
        self.started = True
        await self.migrations.start()  # resumes (or rolls back) a migration a stop or a crash interrupted

    async def stop(self) -> None:
        """Stop taking work, drain the batchers, close the galleries."""
        self.started = False
        await self.migrations.stop()
        for batcher in self.batchers.values():
            await batcher.stop()
        self.batchers.clear()
        pool, self.decode_pool = self.decode_pool, None  # new requests get NotRunning; queued decodes finish
        if pool is not None:
            await blocking(pool.shutdown, wait=True)
        self.lag_probe.close()
        self.storage_probe.close()
        await blocking(self.registry.close)
        if self._switch_interval_before is not None:
            sys.setswitchinterval(self._switch_interval_before)
            self._switch_interval_before = None

    def _session_config(self) -> SessionConfig:
        s = self.settings
        return SessionConfig(
            device=s.device, intra_op_threads=s.intra_op_threads, inter_op_threads=s.inter_op_threads
        )

    def batch_cap(self, model: str) -> BatchCap:
        """`model`'s batch cap (the settings', else its card's for the provider it runs on) and its source."""
        encoder = self.models.encoders[model]
        card_cap = card_batch_cap(encoder.card.serving, provider=encoder.provider)
        return self.settings.batch_cap(model, card_cap=card_cap)

    def _batch_config(self, max_batch: int) -> BatchConfig:
        s = self.settings
        return BatchConfig(
            max_batch=max_batch,
            max_wait_ms=s.max_wait_ms,
            queue_size=s.queue_size,
            timeout_s=s.inference_timeout_s,
        )

    def _create_default_galleries(self) -> None:
        """Create each missing default gallery; one that fails (a full disk) is logged, and the start goes on."""
        unavailable = {entry.name for entry in self.registry.unavailable()}
        for name in self.settings.default_galleries:
            encoder = self.models.encoders.get(name)
            if encoder is None or name in unavailable or name in self.registry:
                continue
            try:
                self.registry.create(
                    name, model=name, model_sha256=encoder.sha256, dim=encoder.dim, metric="l2"
                )
            except GalleryExists:  # another replica sharing the database created it first
                log.info("default gallery %s was created by another replica", name)
                continue
            except GalleryError as exc:
                log.error("could not create default gallery %s: %s", name, exc)
                continue
            log.info("created default gallery %s bound to model %s", name, name)

    def encoder(self, model: str) -> Encoder:
        """The loaded encoder of that name; ModelNotFound otherwise."""
        encoder = self.models.encoders.get(model)
        if encoder is None:
            skipped = self.models.skipped.get(model)
            detail = f" (it failed to load: {skipped})" if skipped else ""
            raise ModelNotFound(f"model {model!r} is not served{detail}")
        return encoder

    def batcher(self, model: str) -> Batcher:
        batcher = self.batchers.get(model)
        if batcher is None or not self.started:
            raise NotRunning("the service is not running")
        return batcher

    def binding(self, gallery: Gallery) -> Encoder:
        """The encoder a gallery may be used with; ModelUnavailable or ModelMismatch when refused."""
        meta = gallery.meta
        encoder = self.models.encoders.get(meta.model)
        if encoder is None:
            raise ModelUnavailable(f"gallery {meta.name!r} needs model {meta.model!r}, which is not loaded")
        gallery.check_model(encoder.sha256)
        return encoder

    def open_gallery(self, name: str) -> tuple[Gallery, Encoder]:
        """(blocking) A gallery ready for use and its encoder; raises when missing or refused."""
        gallery = self.registry.get(name)
        return gallery, self.binding(gallery)

    def gallery_status(self, gallery: Gallery) -> tuple[GalleryStatus, str | None]:
        """("ready", None), or the refusal status and its message."""
        try:
            self.binding(gallery)
        except ModelUnavailable as exc:
            return "model_missing", str(exc)
        except ModelMismatch as exc:
            return "model_mismatch", str(exc)
        return "ready", None

    def binding_problems(self) -> dict[str, tuple[GalleryStatus, str]]:
        """(blocking) Every refused gallery, with its status and message."""
        problems = {}
        for info in self.registry.list():
            status, message = self.gallery_status(self.registry.get(info.name))
            if message is not None:
                problems[info.name] = (status, message)
        return problems

    def effective_threshold(self, info: GalleryInfo) -> float | None:
        """identify's threshold in force for a gallery (`identify_threshold`); with no model loaded, its own
        threshold or None."""
        encoder = self.models.encoders.get(info.model)
        if encoder is None:
            return info.threshold
        return identify_threshold(
            encoder.card,
            own=info.threshold,
            identities=info.identities,
            references=info.references,
            fpir=self.settings.identify_fpir,
        )
