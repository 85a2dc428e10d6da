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
    """Boolean mask over the rows of `vectors` (n, d): True where a row is not finite or not unit norm.

    One float32 pass: a NaN or infinite entry, or entries so large that the squared norm overflows, leave a
    squared norm that is not finite; otherwise |norm^2 - 1| <= 2 tol holds exactly when |norm - 1| <~ tol."""
    x = np.asarray(vectors, dtype=np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        squared = np.einsum("ij,ij->i", x, x)
        return ~np.isfinite(squared) | (np.abs(squared - 1.0) > 2 * UNIT_NORM_TOLERANCE)


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
