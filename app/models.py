"""Model discovery: every `<models_dir>/<name>.json` card whose `<name>.onnx` matches its sha256 is served.

Broken cards or models are skipped with a logged reason and reported by `/ready`; the service keeps running.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from app.encoder import Encoder, SessionConfig
from modelcard import CardError, ModelCard, load_card
from modelcard.align import FaceAligner, find_landmarks_file

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedModels:
    """Encoders by name, plus the reason each skipped model was skipped."""

    encoders: dict[str, Encoder] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


def load_one(card_path: Path, config: SessionConfig) -> Encoder:
    """Load one card (verifying the ONNX sha256) and build its session; raises ValueError when broken."""
    card = load_card(card_path, verify_onnx=True)
    aligner = _aligner(card, card_path.parent)
    try:
        return Encoder(card_path.stem, card, card_path.with_suffix(".onnx"), config, aligner=aligner)
    except Exception as exc:  # onnxruntime raises its own types for unreadable or invalid graphs
        raise ValueError(f"cannot load {card_path.with_suffix('.onnx').name}: {exc}") from exc


def _aligner(card: ModelCard, folder: Path) -> FaceAligner | None:
    """The face aligner a card's `input.align` asks for, its landmarks file beside the card."""
    if card.input.align is None:
        return None
    try:
        return FaceAligner(card.input.align, find_landmarks_file(card.input.align, folder))
    except (CardError, ImportError, RuntimeError) as exc:  # dlib raises RuntimeError on an unreadable file
        raise ValueError(f"cannot load the face aligner of model {card.name!r}: {exc}") from exc


def load_models(models_dir: Path, config: SessionConfig) -> LoadedModels:
    """Every model in `models_dir`, sorted by name; missing directory -> nothing loaded."""
    loaded = LoadedModels()
    if not models_dir.is_dir():
        log.warning("models directory %s does not exist; serving no models", models_dir)
        return loaded
    for card_path in sorted(models_dir.glob("*.json")):
        try:
            loaded.encoders[card_path.stem] = load_one(card_path, config)
        except (CardError, ValueError) as exc:
            loaded.skipped[card_path.stem] = str(exc)
            log.error("skipping model %s: %s", card_path.stem, exc)
    return loaded
