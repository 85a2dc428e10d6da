"""Durable galleries: SQLite stores (the truth) with derived FAISS indexes, and a registry of them.

No web framework and no torch here: the service in `app/` maps these errors to HTTP.
"""

from gallery.config import IndexConfig
from gallery.errors import (
    DimensionMismatch,
    GalleryError,
    GalleryExists,
    GalleryNotFound,
    IdentityNotFound,
    InvalidGalleryName,
    ModelMismatch,
    ReferenceNotFound,
    StoreCorrupt,
)
from gallery.gallery import Gallery
from gallery.registry import GalleryRegistry
from gallery.types import Candidate, Enrollment, GalleryInfo, GalleryMeta, IdentitySummary

__all__ = [
    "Candidate",
    "DimensionMismatch",
    "Enrollment",
    "Gallery",
    "GalleryError",
    "GalleryExists",
    "GalleryInfo",
    "GalleryMeta",
    "GalleryNotFound",
    "GalleryRegistry",
    "IdentityNotFound",
    "IdentitySummary",
    "IndexConfig",
    "InvalidGalleryName",
    "ModelMismatch",
    "ReferenceNotFound",
    "StoreCorrupt",
]
