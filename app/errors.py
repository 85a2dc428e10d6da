"""Service errors, and the one handler that turns any error into a status and `{"error": {code, message}}`."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from app.headmethod import allowed_methods
from gallery.errors import (
    DimensionMismatch,
    GalleryBusy,
    GalleryError,
    GalleryExists,
    GalleryNotFound,
    GalleryTooSmall,
    GalleryUnavailable,
    IdentityNotFound,
    ImageNotKept,
    InvalidGalleryName,
    MigrationConflict,
    ModelMismatch,
    NoMigration,
    NotMigratable,
    ReferenceNotFound,
    StorageError,
    StorageFull,
    StoreCorrupt,
)

log = logging.getLogger(__name__)


class ServiceError(Exception):
    """A service error; each subclass declares its stable `code` and its HTTP `status`."""

    code = "service_error"
    status = 500


class InvalidRequest(ServiceError):
    code = "validation_error"
    status = 422


class DuplicateField(ServiceError):
    code = "duplicate_field"
    status = 422


class UndecodableText(ServiceError):
    code = "bad_encoding"
    status = 422


class TruncatedForm(ServiceError):
    """A multipart body that ends before its closing boundary: malformed, like one with the wrong boundary."""

    code = "bad_request"
    status = 400


class BadImage(ServiceError):
    code = "bad_image"
    status = 422


class NoFace(ServiceError):
    code = "no_face"
    status = 422


class MultipleFaces(ServiceError):
    code = "multiple_faces"
    status = 422


class ImageTooLarge(ServiceError):
    code = "image_too_large"
    status = 413


class BadMetadata(ServiceError):
    code = "bad_metadata"
    status = 422


class BadIdentity(ServiceError):
    code = "bad_identity"
    status = 422


class TooManyImages(ServiceError):
    code = "too_many_images"
    status = 422


class ModelNotFound(ServiceError):
    code = "model_not_found"
    status = 404


class ModelUnavailable(ServiceError):
    code = "model_unavailable"
    status = 503


class Overloaded(ServiceError):
    code = "overloaded"
    status = 429


class BatchFailed(ServiceError):
    code = "inference_failed"
    status = 500


class NotRunning(ServiceError):
    code = "not_running"
    status = 503


class RequestTimeout(ServiceError):
    """Answered by the server itself (app/server.py): headers or body not sent in time."""

    code = "request_timeout"
    status = 408


class HeadersTooLarge(ServiceError):
    """Answered by the server itself (app/server.py): too many header bytes or header fields."""

    code = "headers_too_large"
    status = 431


class TooManyConnections(ServiceError):
    """Answered by the server itself (app/server.py): every connection slot is taken by a request in progress."""

    code = "too_many_connections"
    status = 503


# Gallery errors carry no HTTP knowledge: their statuses live here, one per class (the nearest class in the
# MRO wins). Every GalleryError subclass must be listed; a test walks them all.
GALLERY_STATUS: dict[type[GalleryError], int] = {
    GalleryError: 500,
    GalleryNotFound: 404,
    GalleryBusy: 503,
    GalleryExists: 409,
    GalleryUnavailable: 503,
    GalleryTooSmall: 422,
    InvalidGalleryName: 422,
    IdentityNotFound: 404,
    ReferenceNotFound: 404,
    ModelMismatch: 409,
    DimensionMismatch: 409,
    StoreCorrupt: 500,
    StorageFull: 507,
    StorageError: 503,
    ImageNotKept: 404,
    NotMigratable: 409,
    MigrationConflict: 409,
    NoMigration: 404,
}
HTTP_CODES: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    429: "overloaded",
}


def status_of(exc: ServiceError | GalleryError) -> int:
    """The HTTP status of a named error: its class's own `status`, or its gallery class's entry."""
    if isinstance(exc, ServiceError):
        return exc.status
    return next(GALLERY_STATUS[cls] for cls in type(exc).__mro__ if cls in GALLERY_STATUS)


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """The one error body shape of the service."""
    body = {"error": {"code": code, "message": message}}
    return JSONResponse(body, status_code=status, headers=headers)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"{where}: {err.get('msg', 'invalid')}" if where else str(err.get("msg", "invalid")))
    return "; ".join(parts) or "invalid request"


async def handle_error(request: Request, exc: Exception) -> JSONResponse:
    """Map any error to its status and stable code; unknown errors become a 500 without internals."""
    if isinstance(exc, ServiceError | GalleryError):
        status = status_of(exc)
        headers = {"Retry-After": str(request.app.state.settings.retry_after_s)} if status == 429 else None
        return error_response(status, exc.code, str(exc) or exc.code, headers)
    if isinstance(exc, RequestValidationError):
        return error_response(422, "validation_error", _validation_message(exc))
    if isinstance(exc, HTTPException):
        code = HTTP_CODES.get(exc.status_code, "http_error")
        headers = exc.headers
        if exc.status_code == 405:  # the router names the first route's methods only: name every route's
            headers = {
                **(headers or {}),
                "Allow": ", ".join(allowed_methods(request.app.routes, request.scope)),
            }
        return error_response(exc.status_code, code, str(exc.detail), headers)
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal_error", "internal server error")


def install_error_handlers(app: FastAPI) -> None:
    """Route every error class through `handle_error`."""
    for exc_class in (ServiceError, GalleryError, RequestValidationError, HTTPException, Exception):
        app.add_exception_handler(exc_class, handle_error)
