"""The `stages` scenario: what one image costs at each step of the service's pipeline, in-process, one at a
time: decode, face detection, landmarks and chip (face models), preprocessing, and the encoder at batch 1.

The sum is the single-image pipeline; `raw` measures the encoder alone at larger batches.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from app.encoder import Encoder
from app.imaging import Upload, decode_floor, decode_image, to_8bit, upright
from bench.payloads import Encoded
from modelcard import preprocess

MAX_PIXELS = 50_000_000


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, (time.perf_counter() - t0) * 1e3


def stage_times(encoder: Encoder, image: Encoded) -> dict[str, float]:
    """Milliseconds of each stage for one image (`detect` and `align` only for face models)."""
    spec = encoder.card.input
    at_least = decode_floor(spec)
    img, t_decode = _timed(
        lambda: to_8bit(
            upright(decode_image(Upload("x", image.data), max_pixels=MAX_PIXELS, at_least=at_least))
        )
    )
    times = {"decode": t_decode}
    if encoder.aligner is not None:
        rgb = np.ascontiguousarray(np.asarray(img.convert("RGB")))
        boxes, times["detect"] = _timed(lambda: encoder.aligner.detect(rgb))
        if boxes:
            img, times["align"] = _timed(lambda: encoder.aligner.chip(rgb, boxes[0]))
        else:
            img, times["align"] = _timed(lambda: encoder.aligner.align(img, strict=False).chip)
    arr, times["preprocess"] = _timed(lambda: preprocess(img, spec))
    _, times["embed"] = _timed(lambda: encoder.run(arr[None]))
    times["total"] = sum(times.values())
    return times


def run_stages(encoder: Encoder, images: Sequence[Encoded], *, warmup: int = 3) -> list[dict[str, Any]]:
    """Median and p90 milliseconds per stage over `images` (after `warmup` untimed images)."""
    for image in images[:warmup]:
        stage_times(encoder, image)
    rows = [stage_times(encoder, image) for image in images]
    stages = list(rows[0])
    return [
        {
            "stage": stage,
            "median_ms": float(np.median([r[stage] for r in rows])),
            "p90_ms": float(np.percentile([r[stage] for r in rows], 90)),
            "images": len(rows),
        }
        for stage in stages
    ]
