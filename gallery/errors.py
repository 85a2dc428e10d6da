"""Named gallery errors; each carries a stable `code` that the service maps to an HTTP status."""


class GalleryError(Exception):
    code = "gallery_error"


class GalleryNotFound(GalleryError):
    code = "gallery_not_found"


class GalleryBusy(GalleryError):
    """A search that was told not to wait found the gallery locked by a write (never reaches a client)."""

    code = "gallery_busy"


class GalleryExists(GalleryError):
    code = "gallery_exists"


class InvalidGalleryName(GalleryError):
    code = "invalid_gallery_name"


class IdentityNotFound(GalleryError):
    code = "identity_not_found"


class ReferenceNotFound(GalleryError):
    code = "reference_not_found"


class ModelMismatch(GalleryError):
    code = "model_mismatch"


class DimensionMismatch(GalleryError):
    code = "dimension_mismatch"


class StoreCorrupt(GalleryError):
    code = "store_corrupt"
