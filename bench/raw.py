"""The `raw` scenario: the service's own ONNX encoder alone, in-process, on pre-decoded tensors: the limit.

It builds `app.encoder.Encoder` with the same session settings the service gets, so only the service's
overheads (HTTP, decode, queueing, search, storage) separate the two figures.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from app.encoder import Encoder, SessionConfig
from app.imaging import Upload, prepare_images
from app.models import load_one
from bench.payloads import Encoded
from bench.stats import Sample, summarize

RAW_BATCHES = (1, 8, 32, 64, 128)
MAX_PIXELS = 50_000_000  # the bench's own images: no cap that matters


def load_encoder(models_dir: Path, *, model: str, session: SessionConfig) -> Encoder:
    """The model's encoder as the service builds it (card and sha256 checked, face aligner for face models)."""
    card_path = Path(models_dir) / f"{model}.json"
    if not card_path.is_file():
        raise ValueError(f"no model card {card_path}")
    return load_one(card_path, session)


def decoded_tensors(encoder: Encoder, images: Sequence[Encoded]) -> np.ndarray:
    """Decode, align (face models) and preprocess every image once, as the service does: (n, C, H, W)."""
    uploads = [Upload(f"image-{i}", image.data) for i, image in enumerate(images)]
    return prepare_images(uploads, encoder.card.input, max_pixels=MAX_PIXELS, aligner=encoder.aligner).batch


def tile_batch(tensors: np.ndarray, *, size: int) -> np.ndarray:
    """A contiguous batch of `size` rows, cycling through `tensors`."""
    if size < 1 or len(tensors) == 0:
        raise ValueError("need size >= 1 and at least one tensor")
    return np.ascontiguousarray(tensors[np.arange(size) % len(tensors)])


def measure_batch(
    encoder: Encoder, batch: np.ndarray, *, duration_s: float, warmup: int = 3
) -> dict[str, object]:
    """Call the encoder back to back on one batch for `duration_s`; one sample per call."""
    for _ in range(warmup):
        encoder.run(batch)
    samples: list[Sample] = []
    started = time.perf_counter()
    while time.perf_counter() - started < duration_s:
        t0 = time.perf_counter()
        encoder.run(batch)
        samples.append(Sample(time.perf_counter() - t0, 200))
    elapsed = time.perf_counter() - started
    summary = summarize(samples, elapsed_s=elapsed, images_per_request=len(batch))
    return {"batch": len(batch), **summary, "mean_batch_size": float(len(batch))}


def run_raw(
    encoder: Encoder, tensors: np.ndarray, *, batches: Sequence[int] = RAW_BATCHES, duration_s: float
) -> list[dict[str, object]]:
    """One measurement per batch size; `req_per_s` counts model calls."""
    return [measure_batch(encoder, tile_batch(tensors, size=b), duration_s=duration_s) for b in batches]
