"""The raw-pixel nearest-neighbour baseline: each preprocessed image, flattened, is its own embedding."""

from __future__ import annotations

import numpy as np


def pixel_embeddings(arrays: np.ndarray) -> np.ndarray:
    """(n, C, H, W) preprocessed images -> (n, C*H*W) float32 vectors, mean-centred per image and
    L2-normalized; a constant image becomes the zero vector."""
    x = np.asarray(arrays, dtype=np.float64)
    if x.ndim != 4:
        raise ValueError(f"need (n, channels, height, width) arrays, got shape {x.shape}")
    flat = x.reshape(len(x), -1)
    flat = flat - flat.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(flat, axis=1, keepdims=True)
    return np.divide(flat, norms, out=np.zeros_like(flat), where=norms > 1e-12).astype(np.float32)
