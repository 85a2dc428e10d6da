"""Dependency aliases, declared once: routes take what the lifespan built through these `Annotated` types.

The getters are `async def` although they only read app state: FastAPI runs a plain `def` dependency on a
worker thread, a thread hop per dependency per request.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request, UploadFile
from pydantic import BeforeValidator

from app.imaging import Upload, upload_name
from app.metrics import Metrics
from app.runtime import Runtime
from app.strictform import digits_only
from gallery.registry import GalleryRegistry


async def get_metrics(request: Request) -> Metrics:
    return request.app.state.metrics


async def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


async def get_registry(request: Request) -> GalleryRegistry:
    return request.app.state.runtime.registry


MetricsDep = Annotated[Metrics, Depends(get_metrics)]
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
RegistryDep = Annotated[GalleryRegistry, Depends(get_registry)]


ReferenceId = Annotated[
    int,
    Path(description="A reference's id, as enroll returned it.", ge=0),
    BeforeValidator(digits_only),  # `+1`, `1_0`, ` 1` would read as numbers; 0 or > 64 bits is a 404
]


async def read_upload(file: UploadFile) -> Upload:
    """The bytes of one uploaded file (the request body cap already bounds them)."""
    return Upload(filename=upload_name(file.filename), data=await file.read())
