"""Identity routes: list a gallery's identities page by page, delete an identity or one reference."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BeforeValidator

from app.deps import ReferenceId, RegistryDep
from app.runtime import blocking
from app.schemas import IdentityDeleted, IdentityOut, IdentityPage, ReferenceDeleted
from app.strictform import digits_only
from gallery.registry import GalleryRegistry

router = APIRouter(prefix="/galleries/{name}", tags=["identities"])


def _page(registry: GalleryRegistry, name: str, *, offset: int, limit: int) -> IdentityPage:
    total, rows = registry.get(name).list_identities(offset=offset, limit=limit)
    identities = [
        IdentityOut(
            identity=r.identity, references=r.references, metadata=r.metadata, created_at=r.created_at
        )
        for r in rows
    ]
    return IdentityPage(gallery=name, total=total, offset=offset, limit=limit, identities=identities)


@router.get("/identities", response_model=IdentityPage)
async def list_identities(
    registry: RegistryDep,
    name: str,
    offset: Annotated[int, Query(ge=0), BeforeValidator(digits_only)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000), BeforeValidator(digits_only)] = 100,
) -> IdentityPage:
    """List identities with their reference counts, ordered by name, one page at a time."""
    return await blocking(_page, registry, name, offset=offset, limit=limit)


@router.delete("/identities/{identity:path}", response_model=IdentityDeleted)
async def delete_identity(registry: RegistryDep, name: str, identity: str) -> IdentityDeleted:
    """Delete an identity and all its references."""
    removed = await blocking(lambda: registry.get(name).delete_identity(identity))
    return IdentityDeleted(gallery=name, identity=identity, deleted_references=removed)


@router.delete("/references/{reference_id}", response_model=ReferenceDeleted)
async def delete_reference(registry: RegistryDep, name: str, reference_id: ReferenceId) -> ReferenceDeleted:
    """Delete one reference by id."""
    identity = await blocking(lambda: registry.get(name).delete_reference(reference_id))
    return ReferenceDeleted(gallery=name, reference_id=reference_id, identity=identity)
