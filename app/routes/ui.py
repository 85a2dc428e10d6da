"""The web page: `GET /ui` and its static files (app/ui/static), open without a key like /health.

The page holds no data of its own: every request it makes to the API carries the key the user typed in.
Only the files in the folder are served, by name (no paths), each with its own media type.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, RedirectResponse
from starlette.exceptions import HTTPException

STATIC = Path(__file__).resolve().parents[1] / "ui" / "static"
PREFIX = "/ui"
# The page and its scripts change with the service: revalidate every load (an ETag answers 304 when unchanged).
HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
MEDIA_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml", ".html": "text/html"}

router = APIRouter(prefix=PREFIX, include_in_schema=False)


def assets(folder: Path = STATIC) -> dict[str, Path]:
    """The files the page may load, by file name."""
    return {path.name: path for path in sorted(folder.iterdir()) if path.is_file()}


ASSETS = assets()


def _file(name: str) -> FileResponse:
    path = ASSETS.get(name)
    if path is None:
        raise HTTPException(status_code=404, detail=f"no such file of the web page: {name!r}")
    media_type = (
        MEDIA_TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    )
    return FileResponse(path, media_type=media_type, headers=HEADERS)


@router.api_route("", methods=["GET", "HEAD"])
async def read_page() -> FileResponse:
    """The web page."""
    return _file("index.html")


@router.get("/")
async def redirect_page() -> RedirectResponse:
    """`/ui/` is `/ui` (the page loads its files relative to `/ui`)."""
    return RedirectResponse(PREFIX, status_code=308)


@router.api_route("/{name}", methods=["GET", "HEAD"])
async def read_asset(name: str) -> FileResponse:
    """One of the page's files."""
    return _file(name)
