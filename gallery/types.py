"""Plain values the gallery layer hands to its callers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class GalleryMeta:
    """What a gallery is bound to, as recorded in its store when it was created."""

    name: str
    model: str
    model_sha256: str
    dim: int
    metric: str
    threshold: float | None
    created_at: str
    keep_images: bool = True  # new references keep their image and a thumbnail
    threshold_source: str | None = None  # how `threshold` was set: "override" (by hand) or "calibrated"


@dataclass(frozen=True)
class GalleryInfo:
    """A gallery's binding plus fresh counts; `threshold` None means the model card's threshold applies."""

    name: str
    model: str
    model_sha256: str
    dim: int
    metric: str
    threshold: float | None
    identities: int
    references: int
    created_at: str
    keep_images: bool = True
    threshold_source: str | None = None


@dataclass(frozen=True)
class IndexState:
    """The index a gallery searches now ("flat": exact, "hnsw": graph) and whether a graph is being built."""

    kind: str
    references: int
    building: bool


@dataclass(frozen=True)
class Candidate:
    """One identity in a search answer: its nearest reference and that reference's distance."""

    identity: str
    distance: float
    reference_id: int


@dataclass(frozen=True)
class IdentitySummary:
    identity: str
    references: int
    metadata: dict[str, Any] | None
    created_at: str


@dataclass(frozen=True)
class KeptImage:
    """A reference's image as the gallery keeps it: the upload's own bytes, or a re-encoded copy under the
    size cap (`reencoded`), with its size in pixels, and a small thumbnail for listings."""

    data: bytes
    content_type: str
    width: int
    height: int
    reencoded: bool
    thumbnail: bytes
    thumbnail_type: str


@dataclass(frozen=True)
class Enrollment:
    """One identity's new references, for `Gallery.add_many`; `images`, when given, one per reference."""

    identity: str
    embeddings: np.ndarray  # (n, dim) float32
    image_sha256s: tuple[str, ...]
    metadata: dict[str, Any] | None = None
    images: tuple[KeptImage, ...] | None = None


@dataclass(frozen=True)
class UnavailableGallery:
    """A gallery file found at start-up that could not be opened: its requests are refused until deleted."""

    name: str
    file: str
    reason: str
    # the storage failed, not the gallery (an unreachable or stalled database): opening it is tried again from
    # this monotonic time (None: never), later after each failure in a row (`failures`)
    retry_at: float | None = None
    failures: int = 1
