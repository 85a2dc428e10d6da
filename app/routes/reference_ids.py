"""Reference listing route: one identity's reference ids, for the web page's thumbnails and deletes."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import Field

from app.deps import RegistryDep
from app.runtime import blocking
from app.schemas import ApiModel
from gallery.registry import GalleryRegistry

router = APIRouter(prefix="/galleries/{name}", tags=["identities"])


class IdentityReferences(ApiModel):
    gallery: str
    identity: str
    reference_ids: list[int] = Field(description="The identity's references, oldest first.")


def _ids(registry: GalleryRegistry, name: str, identity: str) -> IdentityReferences:
    ids, _ = registry.get(name).store.identity_embeddings(identity)
    return IdentityReferences(gallery=name, identity=identity, reference_ids=[int(i) for i in ids])


@router.get("/identities/{identity:path}/references", response_model=IdentityReferences)
async def list_identity_references(registry: RegistryDep, name: str, identity: str) -> IdentityReferences:
    """List one identity's reference ids (each one's image: `/galleries/{name}/references/{id}/image`)."""
    return await blocking(_ids, registry, name, identity)
