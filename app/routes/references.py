"""Reference image routes: a reference's kept image, as enrolled (or re-encoded under the size cap), and its
thumbnail for listings; both revalidate cheaply by ETag (the sha256 of the bytes sent).
"""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import APIRouter, Header, Response

from app.deps import ReferenceId, RegistryDep
from app.runtime import blocking
from gallery.errors import ImageNotKept
from gallery.registry import GalleryRegistry

router = APIRouter(prefix="/galleries/{name}/references", tags=["identities"])
CACHE_CONTROL = "private, max-age=3600"  # behind an API key: never in a shared cache
CACHE_HEADERS = {
    "ETag": {"description": "The sha256 of the bytes sent, quoted.", "schema": {"type": "string"}},
    "Cache-Control": {"description": CACHE_CONTROL, "schema": {"type": "string"}},
}
IMAGE_RESPONSES = {
    200: {
        "content": {"image/*": {"schema": {"type": "string", "format": "binary"}}},
        "description": "The image bytes, with their content type.",
        "headers": CACHE_HEADERS,
    },
    304: {"description": "Not modified: the `If-None-Match` ETag is the image's.", "headers": CACHE_HEADERS},
}


def _read(registry: GalleryRegistry, name: str, reference_id: int, *, thumbnail: bool) -> tuple[bytes, str]:
    found = registry.get(name).image(reference_id, thumbnail=thumbnail)
    if found is None:
        raise ImageNotKept(
            f"reference {reference_id} of gallery {name!r} has no kept image: the gallery keeps none, "
            "or the reference was enrolled before images were kept"
        )
    return found


def _matches(etag: str, if_none_match: str) -> bool:
    """RFC 9110 §13.1.2: `*`, or any listed tag equal to `etag` under the weak comparison (W/ ignored)."""
    tags = [tag.strip() for tag in if_none_match.split(",")]
    return "*" in tags or etag in {tag.removeprefix("W/") for tag in tags}


async def _answer(
    registry: GalleryRegistry, name: str, reference_id: int, if_none_match: str | None, *, thumbnail: bool
) -> Response:
    data, content_type = await blocking(_read, registry, name, reference_id, thumbnail=thumbnail)
    etag = f'"{hashlib.sha256(data).hexdigest()}"'
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL}
    if if_none_match is not None and _matches(etag, if_none_match):
        return Response(status_code=304, headers=headers)
    return Response(content=data, media_type=content_type, headers=headers)


@router.get("/{reference_id}/image", response_class=Response, responses=IMAGE_RESPONSES)
async def read_reference_image(
    registry: RegistryDep,
    name: str,
    reference_id: ReferenceId,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """A reference's kept image: the enrolled bytes, or a JPEG re-encoded under SG_KEPT_IMAGE_MAX_KB."""
    return await _answer(registry, name, reference_id, if_none_match, thumbnail=False)


@router.get("/{reference_id}/thumbnail", response_class=Response, responses=IMAGE_RESPONSES)
async def read_reference_thumbnail(
    registry: RegistryDep,
    name: str,
    reference_id: ReferenceId,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """A reference's thumbnail: a JPEG at most SG_THUMBNAIL_SIDE pixels on its longest side."""
    return await _answer(registry, name, reference_id, if_none_match, thumbnail=True)
