"""The `raw` scenario: the service's own ONNX encoder alone, in-process, on pre-decoded tensors: the limit.

It builds `app.encoder.Encoder` with the same session settings the service gets, so only the service's
overheads (HTTP, decode, queueing, search, storage) separate the two figures.
"""

from __future__ import annotations

import io
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from app.encoder import Encoder, SessionConfig
from bench.payloads import Encoded
from bench.stats import Sample, summarize
from modelcard import load_card, preprocess

RAW_BATCHES = (1, 8, 32, 64, 128)


def load_encoder(models_dir: Path, *, model: str, session: SessionConfig) -> Encoder:
    """The model's encoder as the service builds it (card and sha256 checked)."""
    card_path = Path(models_dir) / f"{model}.json"
    if not card_path.is_file():
        raise ValueError(f"no model card {card_path}")
    return Encoder(model, load_card(card_path), card_path.with_suffix(".onnx"), session)


def decoded_tensors(encoder: Encoder, images: Sequence[Encoded]) -> np.ndarray:
    """Decode and preprocess every image once, by the card's spec: (n, C, H, W) float32."""
    arrays = []
    for image in images:
        with Image.open(io.BytesIO(image.data)) as img:
            arrays.append(preprocess(img, encoder.card.input))
    return np.stack(arrays)


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
