"""Integrity checks on what enters an index: each vector finite and of unit L2 norm, and snapshot files by sha256.

A stored embedding is a unit float32 vector (the gallery normalizes every row it stores), so a row that is
not finite or whose norm is off by more than `UNIT_NORM_TOLERANCE` is damage (a garbled blob, a bad page),
never data: it would match every probe, or none.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

UNIT_NORM_TOLERANCE = 1e-3  # float32 rounding leaves a stored unit row within about 1e-6 of norm 1


def bad_rows(vectors: np.ndarray) -> np.ndarray:
    """Boolean mask over the rows of `vectors` (n, d): True where a row is not finite or not unit norm."""
    x = np.asarray(vectors, dtype=np.float32)
    finite = np.isfinite(x).all(axis=1)
    with np.errstate(over="ignore", invalid="ignore"):
        norms = np.linalg.norm(np.where(finite[:, None], x, 0.0).astype(np.float64), axis=1)
    return ~finite | (np.abs(norms - 1.0) > UNIT_NORM_TOLERANCE)


def why_bad(vector: np.ndarray) -> str:
    """What is wrong with one row that `bad_rows` flagged, for logs and `/ready`."""
    x = np.asarray(vector, dtype=np.float64)
    if not np.isfinite(x).all():
        return "not finite (NaN or infinite values)"
    return f"norm {float(np.linalg.norm(x)):.6g}, not 1"


def file_sha256(path: Path) -> str:
    """The sha256 of a file's bytes, read in chunks."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
