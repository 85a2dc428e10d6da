"""Verify route: are two images the same identity?"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile

from app import recognition
from app.deps import RuntimeDep, read_upload
from app.schemas import VerifyOut

router = APIRouter(tags=["recognition"])


@router.post("/verify", response_model=VerifyOut)
async def verify_pair(
    rt: RuntimeDep,
    image_a: Annotated[UploadFile, File()],
    image_b: Annotated[UploadFile, File()],
    gallery: Annotated[str | None, Form(description="Use this gallery's model and threshold.")] = None,
    model: Annotated[str | None, Form(description="Or use this model and its card's threshold.")] = None,
) -> VerifyOut:
    """Compare two images under a gallery's model and threshold, or a model's card."""
    a, b = await read_upload(image_a), await read_upload(image_b)
    return await recognition.verify(rt, image_a=a, image_b=b, gallery_name=gallery, model_name=model)
