"""Write the model card `models/<name>.json` that the service reads (see `modelcard/`)."""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

import torch

from modelcard import InputSpec, ModelCard, Threshold, sha256_file
from modelcard.identification import Identification
from training.config import TrainConfig
from training.data.splits import Split
from training.encoders.pretrained import pretrained_provenance
from training.export import OUTPUT_NAME


def device_description(device: str) -> str:
    if device.startswith("cuda") and torch.cuda.is_available():
        return f"cuda ({torch.cuda.get_device_name(0)})"
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def pretrained_entry(cfg: TrainConfig) -> dict[str, Any]:
    """{"pretrained": package, version, file, sha256, licence, source, training data} when the trunk started
    from packaged weights (`model.pretrained`), else {}."""
    if not cfg.model.pretrained:
        return {}
    return {"pretrained": pretrained_provenance(cfg.model.encoder, cfg.model.pretrained)}


def build_card(
    *,
    cfg: TrainConfig,
    spec: InputSpec,
    onnx_path: Path,
    split: Split,
    threshold: dict[str, Any],
    metrics: dict[str, Any],
    baseline: dict[str, Any],
    training: dict[str, Any],
    identification: Identification | None = None,
) -> ModelCard:
    t = Threshold(
        value=float(threshold["value"]),
        target_far=float(threshold["target_far"]),
        method=str(threshold.get("method", "far")),
        eer_threshold=float(threshold["eer_threshold"])
        if threshold.get("eer_threshold") is not None
        else None,
    )
    return ModelCard(
        name=cfg.name,
        onnx_sha256=sha256_file(onnx_path),
        input=spec,
        embedding_dim=cfg.model.embedding_dim,
        metric="l2",
        threshold=t,
        output_name=OUTPUT_NAME,
        metrics={
            "split": "test",
            **metrics,
            "pixel_nn_baseline": baseline,
            "threshold_tuning": {k: v for k, v in threshold.items() if k != "value"},
        },
        dataset={
            "recipe": cfg.data.recipe,
            "paths": list(cfg.data.paths),
            "split": cfg.data.split,
            "split_seed": cfg.data.seed,
            "novel_classes": list(cfg.data.novel_classes),
            **(
                {"ancestor_novel_classes": list(cfg.data.ancestor_novel_classes)}
                if cfg.data.ancestor_novel_classes is not None
                else {}
            ),
            **split.summary(),
        },
        training={**training, **pretrained_entry(cfg)},
        identification=identification,
    )
