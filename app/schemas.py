"""Request and response bodies of the public HTTP contract (pydantic; the OpenAPI schema comes from here)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gallery.inputs import GALLERY_NAME


class ApiModel(BaseModel):
    """A body of the contract. Every field is always sent in a response (defaults included, None as null), so
    the responses' schemas list them all as required: generated clients need not test for absent keys."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)


GalleryStatus = Literal["ready", "model_mismatch", "model_missing"]
ThresholdSource = Literal["card_identification", "card", "override", "calibrated"]


class ErrorDetail(ApiModel):
    code: str = Field(description="Stable snake_case error code.")
    message: str


class ErrorBody(ApiModel):
    error: ErrorDetail


class GalleryCreate(ApiModel):
    # the pattern is declared, not enforced here: gallery.inputs checks it, with its own 422
    name: str = Field(
        description=f"Matches {GALLERY_NAME.pattern}.",
        examples=["staff"],
        json_schema_extra={"pattern": GALLERY_NAME.pattern},
    )
    model: str = Field(description="A model name served from the models directory.", examples=["faces"])
    threshold: float | None = Field(
        default=None,
        ge=0.0,
        le=2.0,
        strict=True,
        allow_inf_nan=False,
        description="Overrides the card's threshold (a number).",
    )
    keep_images: bool | None = Field(
        default=None,
        strict=True,
        description="Keep each reference's image and a thumbnail (what a model migration re-embeds); "
        "null: SG_KEEP_IMAGES. false: the gallery never keeps image bytes, and cannot be migrated.",
    )


class GalleryIndexOut(ApiModel):
    kind: Literal["flat", "hnsw"] = Field(
        description="`flat`: exact search over every reference; `hnsw`: a graph."
    )
    references: int = Field(description="References the index holds.")
    building: bool = Field(
        description="A graph is being built in the background; the gallery answers from `kind` meanwhile."
    )


class GalleryOut(ApiModel):
    name: str
    model: str
    model_sha256: str
    threshold: float | None = Field(
        description="identify's threshold in force: the override, else the model card's identification threshold "
        "for a gallery of this size (stricter as it grows), else its pair threshold."
    )
    threshold_override: float | None = Field(
        description="The gallery's own threshold (set at creation or by calibration), or null for the card's."
    )
    threshold_source: ThresholdSource = Field(
        description="Where `threshold` comes from: `override` (set by hand), `calibrated` (POST "
        "/galleries/{name}/calibrate), `card_identification` (the card's table for this gallery's size) or "
        "`card` (the card's pair threshold)."
    )
    keep_images: bool = Field(description="New references keep their image and a thumbnail.")
    identities: int
    references: int
    dim: int
    metric: str
    created_at: str
    status: GalleryStatus = Field(description="`ready`, or why requests to this gallery are refused.")
    index: GalleryIndexOut
    migration: MigrationSummary | None = Field(
        default=None,
        description="The gallery's last model migration (POST /galleries/{name}/migrate), if any.",
    )


MigrationState = Literal["running", "blocked", "completed", "cancelled", "rolled_back"]


class MigrationSummary(ApiModel):
    to: str = Field(description="The model being migrated to.")
    state: MigrationState = Field(
        description="`running`; `blocked`: done but for references that failed (see `failures`), not switched; "
        "`completed`: switched; `cancelled`; `rolled_back`: its model was gone at a restart."
    )
    done: int = Field(description="References re-embedded by the new model.")
    total: int = Field(description="References in the gallery (when it ended, for one that ended).")
    failed: int = Field(
        description="References that could not be re-embedded (dropped, for a completed one)."
    )


class MigrateIn(ApiModel):
    model: str = Field(description="A served model: the gallery's own name after an upgrade, or another.")
    drop_failed: bool = Field(
        default=False,
        strict=True,
        description="Switch even if some references cannot be re-embedded, dropping them (they are listed); "
        "false: the migration stops `blocked` before switching.",
    )


class MigrationFailureOut(ApiModel):
    reference_id: int
    identity: str
    code: Literal["undecodable", "no_face", "no_image"]
    message: str


class MigrationOut(MigrationSummary):
    gallery: str
    to_sha256: str
    from_model: str
    from_sha256: str
    drop_failed: bool
    started_at: str
    finished_at: str | None
    message: str | None
    failures: list[MigrationFailureOut] = Field(
        description="References that could not be re-embedded (the first 1000; for a completed migration, "
        "those it dropped)."
    )


class GalleryList(ApiModel):
    galleries: list[GalleryOut]


class GalleryDeleted(ApiModel):
    gallery: str
    deleted: bool = True


class CalibrateIn(ApiModel):
    target_fpir: float | None = Field(
        default=None,
        gt=0.0,
        lt=1.0,
        strict=True,
        allow_inf_nan=False,
        description="The largest share of strangers identify may accept; default SG_IDENTIFY_FPIR, else the "
        "card's identification target, else 0.05.",
    )


class CalibrationOut(ApiModel):
    gallery: str
    threshold: float = Field(
        description="The gallery's threshold now: the largest whose FPIR is at most the target."
    )
    target_fpir: float
    identities: int
    references: int
    non_mated_probes: int = Field(
        description="References scored against every other identity's (their own identity left out)."
    )
    mated_probes: int = Field(
        description="References of identities with two or more, scored as genuine probes."
    )
    sampled: bool = Field(
        description="The probes are a random sample of the references (a big gallery); every reference is "
        "still compared."
    )
    fpir: float = Field(
        description="The share of non-mated probes accepted at the threshold, every identity's probes together "
        "weighing the same however many references it has."
    )
    fnir: float | None = Field(
        description="Mated probes not answered as their own identity at the threshold; null with no mated probes."
    )
    previous_threshold: float | None = Field(description="identify's threshold before calibrating.")


class FaceOut(ApiModel):
    box: list[int] = Field(
        description="Left, top, right, bottom of the face in the image's pixels (EXIF applied).",
        json_schema_extra={"minItems": 4, "maxItems": 4},
    )
    detected: bool = Field(
        description="True: the detector found the face; false: no face was detected and the image was taken "
        "as a face crop, aligned from landmarks found on the whole image."
    )
    faces: int = Field(description="Faces the detector found; the largest is the one used.")


class EnrollOut(ApiModel):
    gallery: str
    identity: str
    reference_ids: list[int]
    enrolled: int
    faces: list[FaceOut] | None = Field(default=None, description="Per image, for a face model.")


class CandidateOut(ApiModel):
    identity: str
    distance: float
    reference_id: int


class IdentifyOut(ApiModel):
    identity: str | None = Field(description="Nearest identity within the threshold, else null (unknown).")
    distance: float | None = Field(
        description="Distance to the nearest identity (null for an empty gallery)."
    )
    threshold: float
    match: bool
    ambiguous: bool = Field(description="The second identity lies within SG_AMBIGUITY_MARGIN of the first.")
    candidates: list[CandidateOut] = Field(description="One row per identity, nearest first.")
    face: FaceOut | None = Field(default=None, description="Where the face was, for a face model.")


class VerifyOut(ApiModel):
    distance: float
    threshold: float
    match: bool
    model: str
    faces: list[FaceOut] | None = Field(default=None, description="Per image (a, b), for a face model.")
    identity: str | None = Field(
        default=None, description="The enrolled identity checked against, if one was."
    )
    references: int | None = Field(default=None, description="Its references compared (the nearest decides).")


class IdentityOut(ApiModel):
    identity: str
    references: int
    metadata: dict[str, Any] | None
    created_at: str


class IdentityPage(ApiModel):
    gallery: str
    total: int
    offset: int
    limit: int
    identities: list[IdentityOut]


class IdentityDeleted(ApiModel):
    gallery: str
    identity: str
    deleted_references: int


class ReferenceDeleted(ApiModel):
    gallery: str
    reference_id: int
    identity: str


class Health(ApiModel):
    status: Literal["ok"] = "ok"


class ModelReady(ApiModel):
    provider: str = Field(description="The onnxruntime execution provider in use, e.g. CPUExecutionProvider.")
    sha256: str
    dim: int
    threshold: float


class GalleryReady(ApiModel):
    status: GalleryStatus
    model: str
    message: str | None = None
    index: GalleryIndexOut


class Ready(ApiModel):
    status: Literal["ready", "degraded", "starting"]
    models: dict[str, ModelReady]
    skipped_models: dict[str, str] = Field(description="Models that failed to load, with the reason.")
    galleries: dict[str, GalleryReady]
