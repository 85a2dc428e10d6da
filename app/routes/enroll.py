"""Enroll route: one or more reference images of one identity, in one call."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile

from app import recognition
from app.deps import RuntimeDep, read_upload
from app.schemas import EnrollOut

router = APIRouter(tags=["recognition"])


@router.post("/enroll", status_code=201, response_model=EnrollOut)
async def enroll_identity(
    rt: RuntimeDep,
    gallery: Annotated[str, Form(description="Gallery name.")],
    identity: Annotated[str, Form(description="1-128 printable characters.")],
    images: Annotated[list[UploadFile], File(description="One or more images of the identity.")],
    metadata: Annotated[str | None, Form(description="A JSON object stored with the identity.")] = None,
) -> EnrollOut:
    """Enroll reference images of an identity; answers only once they are durably stored."""
    recognition.check_image_count(len(images), limit=rt.settings.max_images_per_request)
    uploads = [await read_upload(image) for image in images]
    return await recognition.enroll(
        rt, gallery_name=gallery, identity=identity, uploads=uploads, metadata_raw=metadata
    )
