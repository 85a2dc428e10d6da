"""Service settings: one pydantic-settings object read from `SG_*` variables.

This is the only module that reads the environment. `python -m app` serves with these settings; tests build
`Settings(...)` with their own directories.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_GALLERIES = ("faces", "bodyparts", "defects")


@dataclass(frozen=True)
class BatchCap:
    """A model's batch cap and what set it: `SG_MODEL_MAX_BATCH`, `card` or `SG_MAX_BATCH`."""

    value: int
    source: str


class Settings(BaseSettings):
    """Every knob of the service; validators fail fast at start-up."""

    model_config = SettingsConfigDict(env_prefix="SG_", frozen=True, extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    data_dir: Path = Path("./var")
    # postgresql://user@host:port/db: galleries live in PostgreSQL (shared by replicas; FAISS indexes and their
    # snapshots stay per replica under data_dir); unset: one SQLite file per gallery under data_dir
    database_url: SecretStr | None = None
    # With database_url: each replica catches every gallery up with the change log at least this often (the
    # other replicas' notifications wake it at once; the poll covers one missed while its connection was
    # down), and the log keeps changes this long (a replica left further behind reloads the gallery).
    replica_poll_s: float = Field(default=5.0, gt=0, le=3600)
    # With database_url: the most connections this service's galleries hold open at once (one per request in
    # a store read or write; the change log's listener and a running migration's lease take one more each)
    database_pool_size: int = Field(default=8, ge=1, le=1000)
    change_log_retention_s: float = Field(default=86_400.0, ge=60)
    # With database_url: the longest one write transaction may wait on the server before its connection is cut
    # and the write fails (503 storage_error), so that a server which stalls without closing cannot hold a
    # write, and its gallery, for ever; 0: no limit. It bounds a transaction as a whole: a model migration's
    # switch of a gallery of millions must fit in it.
    database_write_deadline_s: float = Field(default=60.0, ge=0)
    # With database_url: the same for each statement outside a write transaction (a read holds its gallery's lock
    # as a write does); one statement reads at most a page of 65,536 references. 0: no limit.
    database_read_deadline_s: float = Field(default=30.0, ge=0)
    models_dir: Path = Path("./models")
    api_keys: Annotated[tuple[str, ...], NoDecode] = ()
    device: Literal["auto", "cpu", "cuda"] = "auto"

    max_batch: int = Field(default=32, ge=1, le=4096)
    # Per model, a smaller cap than max_batch: `bodyparts=4,defects=4`. It wins over the card's own cap.
    model_max_batch: Annotated[dict[str, int], NoDecode] = {}
    # A model served on the CPU takes the batch cap its card measured fastest there (`serving.cpu_max_batch`,
    # from `python -m bench tune-cap`), within max_batch. On CPU a 256 px MobileNetV2 runs fastest per image at
    # batch 1 (its activations outgrow the cache: 152 images/s at 1, 107 at 32), while dlib's 150 px face
    # network gains from batching. False: every model without SG_MODEL_MAX_BATCH takes max_batch.
    card_batch_caps: bool = True
    max_wait_ms: float = Field(default=0.0, ge=0, le=10_000)
    queue_size: int = Field(default=1024, ge=1)
    retry_after_s: int = Field(default=1, ge=1)
    inference_timeout_s: float = Field(default=30.0, gt=0)

    max_upload_mb: float = Field(default=32.0, gt=0)
    max_image_pixels: int = Field(default=40_000_000, ge=1)
    # Checked from the header with the pixel cap, before any decoding: decode time grows with rows as well as
    # pixels (a 1 x 40,000,000 PNG took 2-11 s under the pixel cap); 413 image_too_large beyond either.
    max_image_side: int = Field(default=12_000, ge=1)
    max_image_aspect: float = Field(default=20.0, ge=1)
    max_images_per_request: int = Field(default=64, ge=1)

    intra_op_threads: int = Field(default=1, ge=0)
    inter_op_threads: int = Field(default=1, ge=0)
    decode_threads: int = Field(default=2, ge=1)
    # FAISS OpenMP threads. One query against 10k references: 0.08 ms with 1 thread, 0.48 ms with 2 on a
    # 2-core machine (the fork/join costs more than the scan), and the batcher already overlaps requests.
    search_threads: int = Field(default=1, ge=1)
    # An exact search of at least this many queries in one call (a batch) takes FAISS's BLAS path, one
    # matrix product: 100k references x 16 queries 16 ms against 33 ms by scanning; fewer queries scan.
    search_blas_min_queries: int = Field(default=8, ge=1)
    # How long a Python thread may hold the GIL while another waits (CPython's default is 5 ms). The event
    # loop, the decode threads and the model thread take turns; at 5 ms the loop sat waiting while the model
    # thread ran its Python parts. 0.1 ms: identify at 32 clients 527 -> 654 requests/s (2-core machine).
    gil_switch_interval_ms: float = Field(default=0.1, gt=0, le=100)

    ambiguity_margin: float = Field(default=0.05, ge=0)
    # Face models: an enrolled image with several faces is enrolled by its largest face ("largest"), or
    # refused with 422 multiple_faces ("refuse"). Identify and verify always use the largest face.
    enroll_multiple_faces: Literal["largest", "refuse"] = "largest"
    # identify's false-positive identification rate: the card's identification rows at this rate (the largest
    # rate the card holds at or under it) set the threshold for a gallery's size; unset: the card's default
    identify_fpir: float | None = Field(default=None, gt=0, lt=1)
    default_galleries: Annotated[tuple[str, ...], NoDecode] = DEFAULT_GALLERIES
    # Galleries of at least this many references search an HNSW graph instead of every vector. Exact search
    # of one query took 0.085 ms at 10k references and 2.5 ms at 100k (memory-bound beyond the cache), and
    # a batch of 16 at 100k 16 ms on the BLAS path; HNSW at efSearch 512 took 3.1 ms per query at 1M.
    ann_min_size: int | None = Field(default=200_000, ge=1)
    hnsw_m: int = Field(default=32, ge=4)  # graph links per vector; a change rebuilds the index at start-up
    hnsw_ef_construction: int = Field(default=80, ge=1)  # build-time candidate list; likewise rebuilds
    hnsw_ef_search: int = Field(default=512, ge=1)  # search-time candidate list: recall against speed
    # A graph build over at least this many references runs in the background (about 5 minutes at 1M on 2
    # cores): the gallery answers from the index it has meanwhile, exactly when it had none, so a first
    # start with a million references and no snapshot serves in seconds instead of after the build.
    index_background_build_min: int = Field(default=50_000, ge=1)
    # FastAPI's native OpenTelemetry (spans, metrics, logs) for a provider you configure. Off by default: the
    # service exports Prometheus metrics itself, and the check alone reads the environment on every request.
    opentelemetry: bool = False
    # POST /identify read and answered below FastAPI's routing (app/hotpath.py); off sends it through the
    # FastAPI route, which answers the same, at about 0.2 ms more Python per request on the event loop.
    # Off while `opentelemetry` is on, so that every identify request has the route's spans.
    identify_hot_path: bool = True
    # While a gallery's last write failed for storage reasons (/ready degraded), /ready tries a write that
    # changes nothing at most this often, so a freed disk shows without waiting for a client's write.
    storage_probe_s: float = Field(default=5.0, ge=0)
    # identify's search of a gallery busy with a write waits at most this long, then 503 gallery_busy.
    gallery_busy_wait_s: float = Field(default=10.0, gt=0)
    # The embedded server (uvicorn, app/server.py): a client must send its request line and headers within
    # SG_HEADER_TIMEOUT_S and never pause its body longer than SG_BODY_TIMEOUT_S (408, then closed); headers
    # beyond SG_MAX_HEADER_KB or SG_MAX_HEADERS are refused (431). Beyond SG_MAX_CONNECTIONS open connections,
    # the one waiting longest for its headers is closed to make room, else the new one.
    header_timeout_s: float = Field(default=10.0, gt=0)
    body_timeout_s: float = Field(default=30.0, gt=0)
    # a response whose writing stays stalled this long (the client stopped reading it) is dropped, connection
    # and all: a reader that never reads holds no descriptor and no buffered response for ever
    write_timeout_s: float = Field(default=30.0, gt=0)
    keep_alive_s: float = Field(default=5.0, gt=0)  # an idle keep-alive connection is closed after this
    max_header_kb: int = Field(default=64, ge=1)
    max_headers: int = Field(default=100, ge=1)
    max_connections: int = Field(default=4096, ge=1)
    backlog: int = Field(default=2048, ge=1)  # connections the kernel queues before the server accepts them
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"
    # Each enrolled image is kept with its reference (its own bytes up to SG_KEPT_IMAGE_MAX_KB, else a JPEG
    # re-encoded under that), with a thumbnail of SG_THUMBNAIL_SIDE pixels on its longest side: what a
    # model migration re-embeds. Off: no gallery keeps any (a gallery may also opt out at creation).
    keep_images: bool = True
    kept_image_max_kb: int = Field(default=2048, ge=16)
    thumbnail_side: int = Field(default=160, ge=16, le=1024)
    # A model migration re-embeds this many kept images per step (one transaction each), in the batcher's
    # background lane: a live request waits for at most one such step's model call.
    migration_batch: int = Field(default=16, ge=1, le=1024)

    @field_validator("default_galleries", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        """Accept `a,b,c` from the environment as well as a sequence."""
        return _comma_list(value)

    @field_validator("model_max_batch", mode="before")
    @classmethod
    def _parse_model_batches(cls, value: object) -> object:
        """`name=N,name=N` from the environment (or a mapping); each N a positive integer."""
        if not isinstance(value, str):
            return value
        out: dict[str, int] = {}
        for item in _comma_list(value):
            name, sep, number = item.partition("=")
            if not sep or not name.strip() or not number.strip().isdigit() or int(number) < 1:
                raise ValueError(f"SG_MODEL_MAX_BATCH wants name=N pairs with N >= 1, got {item!r}")
            out[name.strip()] = int(number)
        return out

    def batch_cap(self, model: str, *, card_cap: int | None = None) -> BatchCap:
        """The most images in one call of `model`, within max_batch: its own cap (SG_MODEL_MAX_BATCH), else
        the cap its card gives for the device it runs on (`card_cap`, when card_batch_caps), else max_batch."""
        if model in self.model_max_batch:
            return BatchCap(min(self.max_batch, self.model_max_batch[model]), "SG_MODEL_MAX_BATCH")
        if card_cap is not None and self.card_batch_caps:
            return BatchCap(min(self.max_batch, card_cap), "card")
        return BatchCap(self.max_batch, "SG_MAX_BATCH")

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        """`a,b,c` like `default_galleries`; but a value that names no key once split (`,` or ` `) is refused
        rather than taken as "no keys", which would serve without auth ("" stays the same as unset)."""
        given = [value] if isinstance(value, str) else value
        if isinstance(given, list | tuple) and any(given) and not _comma_list(",".join(map(str, given))):
            raise ValueError(
                "SG_API_KEYS is set but names no key after splitting on commas; "
                "leave it unset (or empty) to serve without keys, or give at least one key"
            )
        return _comma_list(value)

    @field_validator("database_url", mode="after")
    @classmethod
    def _check_database_url(cls, value: SecretStr | None) -> SecretStr | None:
        """A PostgreSQL URL, or unset ("" is unset); never echoed back, as it may hold a password."""
        if value is None or not value.get_secret_value():
            return None
        if not value.get_secret_value().startswith(("postgresql://", "postgres://")):
            raise ValueError("SG_DATABASE_URL must be a postgresql:// URL (or unset for SQLite)")
        return value

    @model_validator(mode="after")
    def _check_capacity(self) -> Settings:
        if self.queue_size < self.max_images_per_request:
            raise ValueError(
                f"SG_QUEUE_SIZE ({self.queue_size}) must be at least SG_MAX_IMAGES_PER_REQUEST "
                f"({self.max_images_per_request}), or a full-size enroll could never be queued"
            )
        return self

    @property
    def max_upload_bytes(self) -> int:
        """The request body cap (all files of one request together), in bytes."""
        return int(self.max_upload_mb * 1024 * 1024)


def _comma_list(value: object) -> object:
    """`a, b,,c` -> ("a", "b", "c"); anything but a string is left to the field's type."""
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value
