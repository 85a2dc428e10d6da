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


class GalleryUnavailable(GalleryError):
    """The gallery's file is there but could not be opened (damaged, or left by an unfinished create)."""

    code = "gallery_unavailable"


class StorageFull(GalleryError):
    """The disk (or a quota, or a file-size limit) had no room for a write; nothing of it was kept."""

    code = "storage_full"


class StorageError(GalleryError):
    """Any other failed read or write of a gallery's files (an I/O error, a read-only disk, a lock)."""

    code = "storage_error"


class GalleryTooSmall(GalleryError):
    """Too few identities or references to calibrate the gallery's threshold at the asked rate; nothing changed."""

    code = "gallery_too_small"


class ImageNotKept(GalleryError):
    """The reference exists, but its image was not kept (the gallery opted out, or it predates kept images)."""

    code = "image_not_kept"


class NotMigratable(GalleryError):
    """The gallery keeps no images, so there is nothing to re-embed with another model."""

    code = "not_migratable"


class MigrationConflict(GalleryError):
    """A migration to another model is running, or the gallery is already embedded by the model asked for."""

    code = "migration_conflict"


class NoMigration(GalleryError):
    code = "migration_not_found"
