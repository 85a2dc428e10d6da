"""Checks on what callers pass in (gallery names, identities, image hashes, metadata, thresholds, vectors):
bad input raises ValueError (or a GalleryError subclass). Not to be confused with training's validation split
(`training.selection`): this module checks arguments, nothing else."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from gallery.errors import DimensionMismatch, InvalidGalleryName

GALLERY_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
MAX_IDENTITY_CHARS = 128
MAX_METADATA_DEPTH = 32  # nesting of objects/arrays; far deeper ones cannot be serialized back in responses


def gallery_name(name: object) -> str:
    if not isinstance(name, str) or not GALLERY_NAME.fullmatch(name):
        raise InvalidGalleryName(f"gallery name {name!r} must match {GALLERY_NAME.pattern}")
    return name


def identity(value: object) -> str:
    """1-128 printable characters (a lone surrogate is not printable, so it never reaches the store)."""
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_IDENTITY_CHARS or not value.isprintable():
        raise ValueError(f"identity must be 1-{MAX_IDENTITY_CHARS} printable characters, got {value!r}")
    return value


# Path segments that URL clients resolve away before sending (WHATWG URL: `%2e` counts as a dot, and `\` as
# `/` in http URLs): an identity holding one as a segment, sent unencoded, would name another path.
DOT_SEGMENTS = frozenset({".", "..", "%2e", "%2e%2e", ".%2e", "%2e."})


def new_identity(value: object) -> str:
    """An identity a new reference may take: `identity`'s rule, no `.` or `..` segment between slashes (a
    client resolves `a/../../other` to another gallery's path), none that is only white space, none that
    starts or ends with it (" Ada" and "Ada" would be two people)."""
    value = identity(value)
    if any(segment.lower() in DOT_SEGMENTS for segment in re.split(r"[/\\]", value)):
        raise ValueError(
            f"identity {value!r} holds a '.' or '..' path segment, which URL clients resolve away"
        )
    if value.strip() != value:
        raise ValueError(f"identity must not start or end with white space, got {value!r}")
    return value


def sha256s(values: Sequence[str], *, count: int) -> list[str]:
    if isinstance(values, str) or len(values) != count:
        raise ValueError(f"need exactly one image sha256 per embedding ({count})")
    bad = [v for v in values if not isinstance(v, str) or not SHA256_HEX.fullmatch(v)]
    if bad:
        raise ValueError(f"image sha256 must be 64 lowercase hex characters, got {bad[0]!r}")
    return list(values)


def metadata_json(metadata: dict[str, Any] | None) -> str | None:
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        raise ValueError("metadata must be a JSON object (a dict) or None")
    if _depth(metadata) > MAX_METADATA_DEPTH:
        raise ValueError(f"metadata nests objects and arrays more than {MAX_METADATA_DEPTH} levels deep")
    try:
        text = json.dumps(metadata, allow_nan=False, sort_keys=True)
    except (TypeError, ValueError, RecursionError) as exc:  # RecursionError: nested too deeply
        raise ValueError(f"metadata is not JSON-serializable: {exc}") from exc
    try:  # a lone surrogate survives ASCII-escaped JSON, but no response can encode it as UTF-8
        json.dumps(metadata, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"metadata holds text that is not valid Unicode (a lone surrogate): {exc}") from exc
    return text


def _depth(value: Any) -> int:
    """Nesting depth of objects/arrays (a scalar is 0), without recursion; stops once past the limit."""
    deepest, stack = 0, [(value, 0)]
    while stack and deepest <= MAX_METADATA_DEPTH:
        item, level = stack.pop()
        children = list(item.values()) if isinstance(item, dict) else item
        if isinstance(children, list | tuple):
            deepest = max(deepest, level + 1)
            stack.extend((child, level + 1) for child in children)
    return deepest


def threshold(value: float | None) -> float | None:
    """An "l2" threshold lies in [0, 2]; None means the model card's threshold."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"threshold must be a finite number or None, got {value!r}")
    if not 0.0 <= float(value) <= 2.0:
        raise ValueError(f"an l2 threshold must lie in [0, 2], got {value}")
    return float(value)


def matrix(values: np.ndarray, *, dim: int, what: str = "embeddings") -> np.ndarray:
    """A finite (n, dim) float32 C-contiguous matrix with n >= 1."""
    x = np.asarray(values)
    if x.ndim != 2:
        raise ValueError(f"{what} must be a 2-D array (n, {dim}), got shape {x.shape}")
    if x.shape[1] != dim:
        raise DimensionMismatch(f"{what} have dimension {x.shape[1]}, the gallery expects {dim}")
    if x.shape[0] < 1:
        raise ValueError(f"{what} must hold at least one row")
    if not np.issubdtype(x.dtype, np.floating) and not np.issubdtype(x.dtype, np.integer):
        raise ValueError(f"{what} must be numeric, got dtype {x.dtype}")
    x = np.ascontiguousarray(x, dtype=np.float32)
    if not np.isfinite(x).all():
        raise ValueError(f"{what} contain NaN or infinite values")
    return x


def unit_rows(values: np.ndarray, *, dim: int, what: str = "embeddings") -> np.ndarray:
    """`matrix` with every row scaled to unit L2 norm; a zero row is an error."""
    x = matrix(values, dim=dim, what=what)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    if (norms == 0).any():
        raise ValueError(f"{what} contain an all-zero row, which has no direction")
    return np.ascontiguousarray(x / norms, dtype=np.float32)
