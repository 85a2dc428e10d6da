"""Models route: every served model with its threshold and what its card says it was trained and tested on."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import Field

from app.deps import RuntimeDep
from app.encoder import Encoder
from app.schemas import ApiModel
from app.settings import BatchCap

router = APIRouter(tags=["models"])


class TrainedOn(ApiModel):
    recipe: str | None = Field(description="The training recipe (the kind of images), e.g. `faces`.")
    sources: list[str] = Field(description="The data sets its figures are broken down by, e.g. `lfw`.")
    classes: int | None = Field(description="Identities (or classes) in its training split.")
    images: int | None = Field(description="Images in its training split.")


class TestFigures(ApiModel):
    split: str | None = Field(description="The held-out split the figures come from (`test`).")
    roc_auc: float | None = Field(description="Verification ROC AUC on pairs of held-out identities.")
    tar_at_far_1e_2: float | None = Field(description="Verification true-accept rate at 1 % false accepts.")
    top1: float | None = Field(description="Nearest identity right, with `top1_references` references each.")
    top1_references: int | None = Field(description="References per identity behind `top1` (5, else 1).")


class ModelOut(ApiModel):
    name: str
    face: bool = Field(description="A face model: images are detected and aligned, answers carry the box.")
    dim: int
    metric: str
    threshold: float = Field(description="The card's pair threshold (verify; identify's fallback).")
    input: str = Field(description="The encoder's input, `width x height x channels`.")
    encoder: str | None = Field(description="The network, e.g. `mobilenet-v2`.")
    provider: str = Field(description="The onnxruntime execution provider in use.")
    max_batch: int = Field(description="The most images the service runs through the model in one call.")
    max_batch_source: str = Field(
        description="What set `max_batch`: `SG_MODEL_MAX_BATCH`, `card` (the cap the card measured fastest "
        "on this provider) or `SG_MAX_BATCH`."
    )
    trained_on: TrainedOn
    test: TestFigures


class ModelList(ApiModel):
    models: list[ModelOut]


def model_out(encoder: Encoder, cap: BatchCap) -> ModelOut:
    """The public view of one loaded model, read from its card, with the batch cap it is served under."""
    card = encoder.card
    spec, dataset, metrics = card.input, card.dataset, card.metrics
    train: dict[str, Any] = dataset.get("train") or {}
    verification: dict[str, Any] = metrics.get("verification") or {}
    return ModelOut(
        name=encoder.name,
        face=spec.align is not None,
        dim=card.embedding_dim,
        metric=card.metric,
        threshold=card.threshold.value,
        input=f"{spec.width} x {spec.height} x {spec.channels}",
        encoder=card.training.get("encoder"),
        provider=encoder.provider,
        max_batch=cap.value,
        max_batch_source=cap.source,
        trained_on=TrainedOn(
            recipe=dataset.get("recipe"),
            sources=sorted(metrics.get("by_group") or {}),
            classes=train.get("classes"),
            images=train.get("images"),
        ),
        test=TestFigures(
            split=metrics.get("split"),
            roc_auc=verification.get("roc_auc"),
            tar_at_far_1e_2=verification.get("tar_at_far_1e-2"),
            **_top1(metrics),
        ),
    )


def _top1(metrics: dict[str, Any]) -> dict[str, Any]:
    """The card's nearest-identity figure at 5 references per identity, else at 1."""
    for shots in (5, 1):
        if (value := metrics.get(f"top1_{shots}shot")) is not None:
            return {"top1": value, "top1_references": shots}
    return {"top1": None, "top1_references": None}


@router.get("/models", response_model=ModelList)
async def list_models(rt: RuntimeDep) -> ModelList:
    """List the served models: threshold, input, and what each was trained and tested on."""
    encoders = sorted(rt.models.encoders.items())
    return ModelList(models=[model_out(e, rt.batch_cap(name)) for name, e in encoders])
