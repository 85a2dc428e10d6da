"""The raw-pixel nearest-neighbour baseline: each preprocessed image, flattened, is its own embedding."""

from __future__ import annotations

import numpy as np


def pixel_embeddings(arrays: np.ndarray, *, chunk: int = 256) -> np.ndarray:
    """(n, C, H, W) preprocessed images -> (n, C*H*W) float32 vectors, mean-centred per image and
    L2-normalized; a constant image becomes the zero vector. Worked out `chunk` images at a time in float64,
    so the working memory stays that of `chunk` images whatever n is."""
    x = np.asarray(arrays)
    if x.ndim != 4:
        raise ValueError(f"need (n, channels, height, width) arrays, got shape {x.shape}")
    flat = x.reshape(len(x), -1)
    out = np.zeros(flat.shape, dtype=np.float32)
    for start in range(0, len(flat), chunk):
        part = flat[start : start + chunk].astype(np.float64)
        part -= part.mean(axis=1, keepdims=True)
        norms = np.linalg.norm(part, axis=1, keepdims=True)
        np.divide(part, norms, out=part, where=norms > 1e-12)
        part[(norms <= 1e-12).ravel()] = 0.0
        out[start : start + chunk] = part
    return out
