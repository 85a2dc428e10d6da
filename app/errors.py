"""Service errors, and the one handler that turns any error into a status and `{"error": {code, message}}`."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from gallery.errors import GalleryError

log = logging.getLogger(__name__)


class ServiceError(Exception):
    code = "service_error"


class InvalidRequest(ServiceError):
    code = "validation_error"


class BadImage(ServiceError):
    code = "bad_image"


class ImageTooLarge(ServiceError):
    code = "image_too_large"


class BadMetadata(ServiceError):
    code = "bad_metadata"


class BadIdentity(ServiceError):
    code = "bad_identity"


class TooManyImages(ServiceError):
    code = "too_many_images"


class ModelNotFound(ServiceError):
    code = "model_not_found"


class ModelUnavailable(ServiceError):
    code = "model_unavailable"


class Overloaded(ServiceError):
    code = "overloaded"


class BatchFailed(ServiceError):
    code = "inference_failed"


class NotRunning(ServiceError):
    code = "not_running"


STATUS_BY_CODE: dict[str, int] = {
    "validation_error": 422,
    "bad_image": 422,
    "image_too_large": 413,
    "bad_metadata": 422,
    "bad_identity": 422,
    "too_many_images": 422,
    "model_not_found": 404,
    "model_unavailable": 503,
    "overloaded": 429,
    "inference_failed": 500,
    "not_running": 503,
    "gallery_not_found": 404,
    "gallery_exists": 409,
    "invalid_gallery_name": 422,
    "identity_not_found": 404,
    "reference_not_found": 404,
    "model_mismatch": 409,
    "dimension_mismatch": 409,
    "store_corrupt": 500,
}
HTTP_CODES: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    429: "overloaded",
}


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
        status = STATUS_BY_CODE.get(exc.code, 500)
        headers = {"Retry-After": str(request.app.state.settings.retry_after_s)} if status == 429 else None
        return error_response(status, exc.code, str(exc) or exc.code, headers)
    if isinstance(exc, RequestValidationError):
        return error_response(422, "validation_error", _validation_message(exc))
    if isinstance(exc, HTTPException):
        code = HTTP_CODES.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail), exc.headers)
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal_error", "internal server error")


def install_error_handlers(app: FastAPI) -> None:
    """Route every error class through `handle_error`."""
    for exc_class in (ServiceError, GalleryError, RequestValidationError, HTTPException, Exception):
        app.add_exception_handler(exc_class, handle_error)
