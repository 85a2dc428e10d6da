"""Identify route: who, among a gallery's identities, is in this image (or unknown)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.routing import APIRoute
from pydantic import BeforeValidator

from app import recognition
from app.deps import RuntimeDep, read_upload
from app.schemas import IdentifyOut
from app.strictform import digits_only

router = APIRouter(tags=["recognition"])


@router.post("/identify", response_model=IdentifyOut)
async def identify_image(
    rt: RuntimeDep,
    gallery: Annotated[str, Form(description="Gallery name.")],
    image: Annotated[UploadFile, File(description="The image to identify.")],
    top_k: Annotated[
        int,
        Form(ge=1, le=recognition.MAX_TOP_K, description="How many identities to return."),
        BeforeValidator(digits_only),
    ] = recognition.DEFAULT_TOP_K,
) -> IdentifyOut:
    """Identify the image: the nearest identity within the threshold, else unknown, plus candidates."""
    upload = await read_upload(image)
    return await recognition.identify(rt, gallery_name=gallery, upload=upload, top_k=top_k)


def route() -> APIRoute:
    """The identify route itself (for `app.hotpath`, which answers its plain requests)."""
    return next(r for r in router.routes if isinstance(r, APIRoute) and r.endpoint is identify_image)
