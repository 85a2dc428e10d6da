"""Verify route: are two images the same identity, or is one image an enrolled identity?"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile

from app import recognition
from app.deps import RuntimeDep, read_upload
from app.errors import InvalidRequest
from app.schemas import VerifyOut

router = APIRouter(tags=["recognition"])


# the three forms verify takes, each with what it needs (a form that fits none, or two, is 422)
FORMS = {
    "oneOf": [
        {"title": "pair under a gallery", "required": ["image_a", "image_b", "gallery"]},
        {"title": "pair under a model", "required": ["image_a", "image_b", "model"]},
        {"title": "image against an identity", "required": ["gallery", "identity", "image"]},
    ]
}


@router.post(
    "/verify",
    response_model=VerifyOut,
    openapi_extra={"requestBody": {"content": {"multipart/form-data": {"schema": FORMS}}}},
)
async def verify_pair(
    rt: RuntimeDep,
    image_a: Annotated[UploadFile | None, File(description="Pair form: the first image.")] = None,
    image_b: Annotated[UploadFile | None, File(description="Pair form: the second image.")] = None,
    gallery: Annotated[str | None, Form(description="Use this gallery's model and threshold.")] = None,
    model: Annotated[str | None, Form(description="Or use this model and its card's threshold.")] = None,
    identity: Annotated[
        str | None, Form(description="Identity form: an identity enrolled in `gallery`.")
    ] = None,
    image: Annotated[UploadFile | None, File(description="Identity form: the image to check.")] = None,
) -> VerifyOut:
    """Compare two images (under a gallery's or a model's threshold), or one image with an enrolled identity."""
    if identity is not None or image is not None:
        if identity is None or image is None or gallery is None or image_a or image_b or model:
            raise InvalidRequest(
                "the identity form takes `gallery`, `identity` and `image`, and nothing else"
            )
        upload = await read_upload(image)
        return await recognition.verify_identity(rt, gallery_name=gallery, identity=identity, image=upload)
    if image_a is None or image_b is None:
        raise InvalidRequest("give `image_a` and `image_b`, or `gallery`, `identity` and `image`")
    a, b = await read_upload(image_a), await read_upload(image_b)
    return await recognition.verify(rt, image_a=a, image_b=b, gallery_name=gallery, model_name=model)
