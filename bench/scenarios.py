"""The benchmark scenarios: raw encoder, HTTP identify/enroll/verify against a live service, start-up time,
and the service's own ceiling (identify with an encoder that costs nothing).

Each HTTP run populates a fresh temporary data dir, starts the service, enrolls real identities through it,
warms it up, then drives it once per client count, scraping /metrics around each run.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from app.encoder import SessionConfig
from bench.cpu import own_cpu_s, per_request_ms, process_cpu_s
from bench.load import PreparedRequest, drive
from bench.nullmodel import write_null_model
from bench.payloads import ImageSet, folder_images, synthetic_images
from bench.populate import populate
from bench.raw import decoded_tensors, load_encoder, run_raw
from bench.recall import measure_recall
from bench.scrape import fetch_metrics, scraped_mean
from bench.server import SERVICE_SETTINGS, ServiceConfig, ServiceProcess, service_default
from bench.stages import run_stages
from bench.stats import summarize
from bench.workload import (
    BENCH_GALLERY,
    SCENARIO_PATHS,
    enroll_identities,
    identify_accuracy,
    scenario_requests,
)
from modelcard import load_card

log = logging.getLogger("bench")
SCENARIOS = ("raw", "stages", "identify", "enroll", "verify", "startup", "ceiling")
BATCH_METRIC = "sg_batch_size"
LATENCY_METRIC = "sg_http_request_duration_seconds"


@dataclass(frozen=True)
class BenchConfig:
    """One benchmark invocation; service settings are passed to the service as `SG_*` variables."""

    scenario: str
    models_dir: Path
    model: str = "faces"
    clients: tuple[int, ...] = (1, 8, 32, 64)
    gallery_sizes: tuple[int, ...] = (1_000, 10_000)
    duration_s: float = 30.0
    warmup_s: float = 3.0
    max_batch: int = service_default("max_batch")
    max_wait_ms: float = service_default("max_wait_ms")
    intra_op_threads: int = service_default("intra_op_threads")
    inter_op_threads: int = service_default("inter_op_threads")
    decode_threads: int = service_default("decode_threads")
    search_threads: int = service_default("search_threads")
    device: str = service_default("device")
    ann_min_size: int | None = service_default("ann_min_size")
    index_background_build_min: int = service_default("index_background_build_min")
    identify_hot_path: bool = service_default("identify_hot_path")
    card_batch_caps: bool = service_default("card_batch_caps")
    images: Path | None = None
    identities: int = 20
    images_per_identity: int = 5
    enroll_per_identity: int = 3
    enroll_batch: int = 8
    refs_per_identity: int = 5
    # layout of the synthetic references: model | identities | uniform (bench.populate)
    synthetic: str = "model"
    work_dir: Path | None = None
    start_timeout_s: float = 1800.0  # building an ANN index over 1M references takes minutes on 2 cores
    seed: int = 0

    def __post_init__(self) -> None:
        if self.scenario not in SCENARIOS:
            raise ValueError(f"scenario must be one of {SCENARIOS}, got {self.scenario!r}")
        if not self.clients or min(self.clients) < 1 or self.duration_s <= 0 or self.warmup_s < 0:
            raise ValueError("need clients >= 1, duration > 0 and warmup >= 0")
        if not self.gallery_sizes or min(self.gallery_sizes) < 0:
            raise ValueError("gallery sizes must be >= 0")

    @property
    def session(self) -> SessionConfig:
        return SessionConfig(self.device, self.intra_op_threads, self.inter_op_threads)


def image_set(cfg: BenchConfig) -> ImageSet:
    """Real images from `cfg.images` (class-per-folder) when given, else seeded synthetic ones."""
    counts = {
        "identities": cfg.identities,
        "per_identity": cfg.images_per_identity,
        "enroll_per_identity": cfg.enroll_per_identity,
    }
    if cfg.images is not None:
        return folder_images(cfg.images, **counts)
    return synthetic_images(**counts, seed=cfg.seed)


def service_config(cfg: BenchConfig, data_dir: Path) -> ServiceConfig:
    settings = {name: getattr(cfg, name) for name in SERVICE_SETTINGS}
    return ServiceConfig(data_dir=data_dir, models_dir=cfg.models_dir, **settings)


def run_scenario(cfg: BenchConfig) -> dict[str, Any]:
    """Run one scenario; returns its runs (and recall rows), plus the execution provider that served it."""
    images = image_set(cfg)
    if cfg.scenario == "raw":
        return _raw(cfg, images)
    if cfg.scenario == "stages":
        encoder = load_encoder(cfg.models_dir, model=cfg.model, session=cfg.session)
        return {"runs": run_stages(encoder, images.all_images), "device": encoder.provider}
    if cfg.scenario == "startup":
        runs = [_startup(cfg, images, size) for size in cfg.gallery_sizes]
        return {"runs": runs, "device": runs[-1]["device"]}
    if cfg.scenario == "ceiling":  # identify, served by an encoder that costs nothing (bench.nullmodel)
        with tempfile.TemporaryDirectory(dir=cfg.work_dir, prefix="sg-null-") as tmp:
            null = write_null_model(cfg.models_dir, cfg.model, Path(tmp))
            return _http(dataclasses.replace(cfg, scenario="identify", models_dir=null), images)
    return _http(cfg, images)


def _raw(cfg: BenchConfig, images: ImageSet) -> dict[str, Any]:
    encoder = load_encoder(cfg.models_dir, model=cfg.model, session=cfg.session)
    runs = run_raw(encoder, decoded_tensors(encoder, images.all_images), duration_s=cfg.duration_s)
    for run in runs:
        log.info("raw batch %d: %.0f images/s", run["batch"], run["images_per_s"])
    return {"runs": runs, "device": encoder.provider}


def _embedding_sample(cfg: BenchConfig, images: ImageSet) -> np.ndarray | None:
    """Real embeddings of every bench image, which the "model" layout fits its synthetic identities to."""
    if cfg.synthetic != "model":
        return None
    encoder = load_encoder(cfg.models_dir, model=cfg.model, session=cfg.session)
    return encoder.run(decoded_tensors(encoder, images.all_images))


@contextmanager
def _populated(cfg: BenchConfig, images: ImageSet, size: int) -> Iterator[tuple[Path, float]]:
    """A fresh temporary data dir whose bench gallery holds `size` synthetic references."""
    card = load_card(Path(cfg.models_dir) / f"{cfg.model}.json")
    sample = _embedding_sample(cfg, images) if size else None
    with tempfile.TemporaryDirectory(dir=cfg.work_dir, prefix="sg-bench-") as tmp:
        data = Path(tmp)
        seconds = populate(
            data,
            gallery=BENCH_GALLERY,
            model=cfg.model,
            card=card,
            size=size,
            refs_per_identity=cfg.refs_per_identity,
            layout=cfg.synthetic,
            sample=sample,
            seed=cfg.seed,
        )
        log.info("populated %d references in %.1f s", size, seconds)
        yield data, seconds


def _startup(cfg: BenchConfig, images: ImageSet, size: int) -> dict[str, Any]:
    """Spawn-to-ready with `size` stored references: a first start (no index snapshot yet), the time until
    its index is built (a big graph is built in the background while the gallery answers exactly), then a
    restart (which loads the snapshot written at shutdown)."""
    with _populated(cfg, images, size) as (data, populate_s):
        with ServiceProcess(service_config(cfg, data), log_path=data / "service.log") as service:
            first = service.start(timeout_s=cfg.start_timeout_s)
            at_ready = service.index_state(BENCH_GALLERY)["kind"]
            built = service.wait_index_built(BENCH_GALLERY, timeout_s=cfg.start_timeout_s)
            built_kind = service.index_state(BENCH_GALLERY)["kind"]
        with ServiceProcess(service_config(cfg, data), log_path=data / "service.log") as service:
            restart = service.start(timeout_s=cfg.start_timeout_s)
            device = service.provider(cfg.model)
            restart_kind = service.index_state(BENCH_GALLERY)["kind"]
        log.info(
            "start-up with %d references: ready in %.2f s searching %s, %s index built at %.1f s; "
            "restart %.2f s",
            size,
            first,
            at_ready,
            built_kind,
            built,
            restart,
        )
    return {
        "gallery_size": size,
        "populate_s": round(populate_s, 2),
        "startup_s": round(first, 3),
        "startup_index": at_ready,
        "index_built_s": round(built, 3),
        "index": built_kind,
        "restart_s": round(restart, 3),
        "restart_index": restart_kind,
        "device": device,
    }


def _http(cfg: BenchConfig, images: ImageSet) -> dict[str, Any]:
    sizes = cfg.gallery_sizes[:1] if cfg.scenario == "verify" else cfg.gallery_sizes
    runs: list[dict[str, Any]] = []
    recall: list[dict[str, Any]] = []
    device = None
    for size in sizes:
        with _populated(cfg, images, size) as (data, _):
            gallery_runs, device = _serve_and_drive(cfg, images, data=data, size=size)
            runs += gallery_runs
            if cfg.scenario == "identify" and cfg.ann_min_size is not None and size >= cfg.ann_min_size:
                recall.append(_recall(cfg, images, data=data, size=size))
    return {"runs": runs, "recall": recall, "device": device}


def _serve_and_drive(
    cfg: BenchConfig, images: ImageSet, *, data: Path, size: int
) -> tuple[list[dict[str, Any]], str | None]:
    service = ServiceProcess(service_config(cfg, data), log_path=data / "service.log")
    with service, httpx.Client(timeout=120.0) as client:
        startup_s = service.start(timeout_s=cfg.start_timeout_s)
        device = service.provider(cfg.model)
        where = {"base_url": service.base_url, "headers": service.headers}
        enroll_identities(client, images, **where)
        service.wait_index_built(BENCH_GALLERY, timeout_s=cfg.start_timeout_s)  # measure the index meant
        extra: dict[str, Any] = {"gallery_size": size, "startup_s": round(startup_s, 3)}
        extra |= service.batch_cap(cfg.model)  # under the card's cap, --max-batch may not be what ran
        if cfg.scenario == "identify":
            extra["probe_accuracy"] = round(identify_accuracy(client, images, **where), 4)
        requests = scenario_requests(cfg.scenario, images, model=cfg.model, per_call=cfg.enroll_batch)
        if cfg.warmup_s > 0:
            drive(
                service.base_url,
                requests,
                clients=max(cfg.clients),
                duration_s=cfg.warmup_s,
                headers=service.headers,
            )
        runs = [_measure(cfg, service, client, requests, clients=c) | extra for c in cfg.clients]
    return runs, device


def _measure(
    cfg: BenchConfig,
    service: ServiceProcess,
    client: httpx.Client,
    requests: Sequence[PreparedRequest],
    *,
    clients: int,
) -> dict[str, Any]:
    """One closed-loop run; mean batch size and server-side latency from /metrics deltas."""
    where = {"base_url": service.base_url, "headers": service.headers}
    before = fetch_metrics(client, **where)
    server_cpu, own_cpu = _service_cpu(service), own_cpu_s()
    result = drive(
        service.base_url, requests, clients=clients, duration_s=cfg.duration_s, headers=service.headers
    )
    server_cpu_s = _delta(_service_cpu(service), server_cpu)
    load_cpu_s = own_cpu_s() - own_cpu
    after = fetch_metrics(client, **where)
    batch = scraped_mean(before, after, name=BATCH_METRIC, labels={"model": cfg.model})
    route = {"route": SCENARIO_PATHS[cfg.scenario], "method": "POST"}
    server_s = scraped_mean(before, after, name=LATENCY_METRIC, labels=route)
    stats = summarize(result.samples, elapsed_s=result.elapsed_s, images_per_request=requests[0].images)
    run = {"clients": clients, **stats}
    run["mean_batch_size"] = None if batch is None else round(batch, 2)
    run["server_mean_ms"] = None if server_s is None else round(server_s * 1000, 3)
    run["server_cpu_ms_per_request"] = per_request_ms(server_cpu_s, stats["requests"])
    run["load_cpu_ms_per_request"] = per_request_ms(load_cpu_s, stats["requests"])
    log.info("%s, %d clients: %s", cfg.scenario, clients, json.dumps(run))
    return run


def _service_cpu(service: ServiceProcess) -> float | None:
    return process_cpu_s(service.pid) if service.pid is not None else None


def _delta(after: float | None, before: float | None) -> float | None:
    return None if after is None or before is None else after - before


def _recall(cfg: BenchConfig, images: ImageSet, *, data: Path, size: int) -> dict[str, Any]:
    """ANN recall on the data dir the service just left (its index snapshot), with real probe embeddings."""
    encoder = load_encoder(cfg.models_dir, model=cfg.model, session=cfg.session)
    real = encoder.run(decoded_tensors(encoder, images.probes))
    row = measure_recall(data, gallery=BENCH_GALLERY, ann_min_size=cfg.ann_min_size or 1, real_queries=real)
    log.info("recall at %d references: %s", size, json.dumps(row))
    return {"gallery_size": size, "synthetic": cfg.synthetic, **row}
