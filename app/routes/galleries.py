"""Gallery routes: create, list, read and delete galleries; calibrate a gallery's threshold, or clear it."""

from __future__ import annotations

import contextlib

from fastapi import APIRouter

from app.calibration import calibrate_gallery
from app.deps import RuntimeDep
from app.errors import InvalidRequest
from app.runtime import Runtime, blocking
from app.schemas import (
    CalibrateIn,
    CalibrationOut,
    GalleryCreate,
    GalleryDeleted,
    GalleryIndexOut,
    GalleryList,
    GalleryOut,
    MigrateIn,
    MigrationFailureOut,
    MigrationOut,
    MigrationSummary,
    ThresholdSource,
)
from gallery import migration
from gallery.errors import GalleryNotFound, NoMigration
from gallery.gallery import Gallery
from gallery.types import GalleryInfo

router = APIRouter(prefix="/galleries", tags=["galleries"])


def describe(rt: Runtime, gallery: Gallery) -> GalleryOut:
    """(blocking) The public view of one gallery, with the threshold in force and its binding status."""
    info = gallery.info
    status, _ = rt.gallery_status(gallery)
    return GalleryOut(
        name=info.name,
        model=info.model,
        model_sha256=info.model_sha256,
        threshold=rt.effective_threshold(info),
        threshold_override=info.threshold,
        threshold_source=threshold_source(rt, info),
        keep_images=info.keep_images and rt.settings.keep_images,
        identities=info.identities,
        references=info.references,
        dim=info.dim,
        metric=info.metric,
        created_at=info.created_at,
        status=status,
        index=index_out(gallery),
        migration=_summary(migration.state(gallery.store)),
    )


def _summary(state: migration.MigrationState | None) -> MigrationSummary | None:
    if state is None:
        return None
    return MigrationSummary(
        to=state.model, state=state.state, done=state.done, total=state.total, failed=state.failed
    )


def migration_out(gallery: Gallery) -> MigrationOut:
    """(blocking) The gallery's last migration in full, with the references it could not re-embed."""
    state = migration.state(gallery.store)
    if state is None:
        raise NoMigration(f"gallery {gallery.name!r} has never been migrated")
    failures = state.dropped if state.state == "completed" else migration.failures(gallery.store)
    return MigrationOut(
        gallery=gallery.name,
        to=state.model,
        to_sha256=state.model_sha256,
        from_model=state.from_model,
        from_sha256=state.from_sha256,
        state=state.state,
        done=state.done,
        total=state.total,
        failed=state.failed,
        drop_failed=state.drop_failed,
        started_at=state.started_at,
        finished_at=state.finished_at,
        message=state.message,
        failures=[MigrationFailureOut(**f.__dict__) for f in failures[: migration.MAX_LISTED]],
    )


def threshold_source(rt: Runtime, info: GalleryInfo) -> ThresholdSource:
    """Why identify's threshold is what it is (see `app.runtime.identify_threshold`)."""
    if info.threshold is not None:
        return "calibrated" if info.threshold_source == "calibrated" else "override"
    encoder = rt.models.encoders.get(info.model)
    if encoder is not None and encoder.card.identification is not None:
        return "card_identification"
    return "card"


def index_out(gallery: Gallery) -> GalleryIndexOut:
    state = gallery.index_state
    return GalleryIndexOut(kind=state.kind, references=state.references, building=state.building)


def _create(rt: Runtime, body: GalleryCreate) -> GalleryOut:
    encoder = rt.encoder(body.model)
    if body.keep_images and not rt.settings.keep_images:
        raise InvalidRequest("keep_images: this service keeps no images (SG_KEEP_IMAGES is off)")
    gallery = rt.registry.create(
        body.name,
        model=encoder.name,
        model_sha256=encoder.sha256,
        dim=encoder.dim,
        threshold=body.threshold,
        keep_images=rt.settings.keep_images if body.keep_images is None else body.keep_images,
    )
    return describe(rt, gallery)


def _list(rt: Runtime) -> GalleryList:
    """Every gallery; one deleted between the listing and its read is left out, not a 404 for the list."""
    galleries = []
    for info in rt.registry.list():
        with contextlib.suppress(GalleryNotFound):
            galleries.append(describe(rt, rt.registry.get(info.name)))
    return GalleryList(galleries=galleries)


def _clear_threshold(rt: Runtime, name: str) -> GalleryOut:
    gallery = rt.registry.get(name)
    gallery.set_threshold(None)
    return describe(rt, gallery)


@router.post("", status_code=201, response_model=GalleryOut)
async def create_gallery(rt: RuntimeDep, body: GalleryCreate) -> GalleryOut:
    """Create a gallery bound to a served model, optionally with its own threshold."""
    return await blocking(_create, rt, body)


@router.get("", response_model=GalleryList)
async def list_galleries(rt: RuntimeDep) -> GalleryList:
    """List every gallery with its model, threshold and sizes."""
    return await blocking(_list, rt)


@router.get("/{name}", response_model=GalleryOut)
async def read_gallery(rt: RuntimeDep, name: str) -> GalleryOut:
    """Read one gallery: its model, threshold, identity and reference counts."""
    return await blocking(lambda: describe(rt, rt.registry.get(name)))


@router.delete("/{name}", response_model=GalleryDeleted)
async def delete_gallery(rt: RuntimeDep, name: str) -> GalleryDeleted:
    """Delete a gallery and all its references."""
    await blocking(rt.registry.delete, name)
    return GalleryDeleted(gallery=name)


@router.post("/{name}/calibrate", response_model=CalibrationOut)
async def calibrate_threshold(rt: RuntimeDep, name: str, body: CalibrateIn | None = None) -> CalibrationOut:
    """Set the gallery's threshold from its own references at a target FPIR (leave one identity out)."""
    target = body.target_fpir if body is not None else None
    return await calibrate_gallery(rt, gallery_name=name, target_fpir=target)


@router.post("/{name}/migrate", status_code=202, response_model=MigrationOut)
async def migrate_gallery(rt: RuntimeDep, name: str, body: MigrateIn) -> MigrationOut:
    """Re-embed the gallery's kept images with another model in the background, then switch to it."""
    gallery = await blocking(rt.registry.get, name)
    await rt.migrations.begin(gallery, rt.encoder(body.model), drop_failed=body.drop_failed)
    return await blocking(migration_out, gallery)


@router.get("/{name}/migration", response_model=MigrationOut)
async def read_migration(rt: RuntimeDep, name: str) -> MigrationOut:
    """The gallery's last model migration: its progress, or how it ended, and its failed references."""
    return await blocking(lambda: migration_out(rt.registry.get(name)))


@router.delete("/{name}/migration", response_model=MigrationOut)
async def cancel_migration(rt: RuntimeDep, name: str) -> MigrationOut:
    """Cancel the gallery's migration in progress: what it re-embedded is dropped, the model stays."""
    gallery = await blocking(rt.registry.get, name)
    await rt.migrations.cancel(gallery)
    return await blocking(migration_out, gallery)


@router.delete("/{name}/threshold", response_model=GalleryOut)
async def clear_threshold(rt: RuntimeDep, name: str) -> GalleryOut:
    """Clear the gallery's own threshold (calibrated or set at creation): the card's applies again."""
    return await blocking(_clear_threshold, rt, name)
