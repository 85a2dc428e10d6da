"""Parse and validate `models/<name>.json` model cards (no torch, no web framework)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from modelcard.identification import Identification, IdentificationError
from modelcard.serving import ServingError, cpu_batch_cap

RESIZE_MODES = ("stretch", "center_crop", "pad")
METRICS = ("l2",)  # L2 distance between L2-normalized embeddings, in [0, 2]
CARD_VERSION = 1


class CardError(ValueError):
    """A model card is missing, malformed, or does not match its ONNX file."""


ALIGN_KINDS = ("face5",)


@dataclass(frozen=True)
class AlignSpec:
    """Face detection and 5-point alignment before preprocessing (implemented once, in `modelcard.align`).

    The face is found by dlib's HOG detector on a working copy (images over `detect_max_side` shrunk to
    it, images whose shorter side is under `detect_min_side` upsampled by x2 steps, at most two), its five
    landmarks by the shape predictor in `landmarks` (a file beside the card, checked by sha256), and the
    chip cut by dlib's `get_face_chip(chip, padding)`. With no face detected, an image no larger than
    `crop_max_side` is taken as a face crop: landmarks are found on the whole crop, and the chip must score
    at least `crop_min_score` on the detector (histogram-equalized), else there is no face.
    """

    kind: str = "face5"
    chip: int = 150
    padding: float = 0.25
    landmarks: str = ""
    landmarks_sha256: str = ""
    detect_max_side: int = 640
    detect_min_side: int = 256
    crop_max_side: int = 256
    crop_min_score: float = -1.0

    def __post_init__(self) -> None:
        if self.kind not in ALIGN_KINDS:
            raise CardError(f"input.align.kind must be one of {ALIGN_KINDS}, got {self.kind!r}")
        if self.chip < 32 or not 0 <= self.padding <= 1:
            raise CardError("input.align needs chip >= 32 and padding in [0, 1]")
        if min(self.detect_max_side, self.detect_min_side, self.crop_max_side) < 1:
            raise CardError("input.align sides must be positive")
        if not self.landmarks or not self.landmarks_sha256:
            raise CardError("input.align needs its landmarks file name and sha256")


@dataclass(frozen=True)
class InputSpec:
    """How to turn a decoded image into the encoder's input tensor (NCHW float32).

    Steps, in order: EXIF-transpose; convert to "L" (channels=1) or "RGB" (channels=3);
    resize to width x height by `resize` (stretch | center_crop | pad, bilinear);
    scale to [0, 1]; if `brighten` and the image's mean is under it, x = x ** g with the g that brings the
    mean to `brighten` (dark images lifted, as under harsh side light); if `invert`, x = 1 - x; then
    (x - mean[c]) / std[c]. With `align`, the face chip
    (align.chip square, RGB) replaces the image before the resize, which then keeps its size.
    """

    height: int
    width: int
    channels: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    resize: str = "stretch"
    invert: bool = False
    name: str = "input"
    align: AlignSpec | None = None
    brighten: float | None = None

    def __post_init__(self) -> None:
        if self.channels not in (1, 3):
            raise CardError(f"input.channels must be 1 or 3, got {self.channels}")
        if self.height < 1 or self.width < 1:
            raise CardError("input.height and input.width must be positive")
        if len(self.mean) != self.channels or len(self.std) != self.channels:
            raise CardError("input.mean and input.std need one value per channel")
        if any(s <= 0 for s in self.std):
            raise CardError("input.std values must be positive")
        if self.brighten is not None and not 0 < self.brighten < 1:
            raise CardError(f"input.brighten must be in (0, 1), got {self.brighten}")
        if self.resize not in RESIZE_MODES:
            raise CardError(f"input.resize must be one of {RESIZE_MODES}, got {self.resize!r}")
        chip = None if self.align is None else self.align.chip
        if chip is not None and (self.channels, self.height, self.width) != (3, chip, chip):
            raise CardError("an aligned input must be RGB and as large as the face chip")


@dataclass(frozen=True)
class Threshold:
    """Distance threshold: at or under `value` is a match."""

    value: float
    target_far: float | None = None
    method: str = "far"
    eer_threshold: float | None = None


@dataclass(frozen=True)
class ModelCard:
    name: str
    onnx_sha256: str
    input: InputSpec
    embedding_dim: int
    metric: str
    threshold: Threshold
    output_name: str = "embedding"
    metrics: dict[str, Any] = field(default_factory=dict)
    dataset: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    card_version: int = CARD_VERSION
    # identify's thresholds by gallery size (None: identify uses `threshold`, the pair threshold, as verify does)
    identification: Identification | None = None
    # how to serve it, as measured (`modelcard.serving`): e.g. the batch cap that measured fastest on a CPU
    serving: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise CardError(f"metric must be one of {METRICS}, got {self.metric!r}")
        if self.embedding_dim < 1:
            raise CardError("embedding_dim must be positive")
        try:
            cpu_batch_cap(self.serving)
        except ServingError as exc:
            raise CardError(str(exc)) from exc

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelCard:
        try:
            spec = dict(data["input"])
            spec["mean"] = tuple(float(v) for v in spec["mean"])
            spec["std"] = tuple(float(v) for v in spec["std"])
            if spec.get("align") is not None:
                spec["align"] = AlignSpec(**spec["align"])
            fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
            fields["input"] = InputSpec(**spec)
            fields["threshold"] = Threshold(**data["threshold"])
            if data.get("identification") is not None:
                fields["identification"] = Identification.from_dict(data["identification"])
            return cls(**fields)
        except (KeyError, TypeError, IdentificationError) as exc:
            raise CardError(f"malformed model card: {exc}") from exc


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def load_card(json_path: Path, *, verify_onnx: bool = True) -> ModelCard:
    """Load a card; with `verify_onnx`, check the sibling `.onnx` exists and its sha256 matches."""
    json_path = Path(json_path)
    try:
        card = ModelCard.from_dict(json.loads(json_path.read_text()))
    except (OSError, json.JSONDecodeError) as exc:
        raise CardError(f"cannot read model card {json_path}: {exc}") from exc
    if verify_onnx:
        onnx_path = json_path.with_suffix(".onnx")
        if not onnx_path.is_file():
            raise CardError(f"model card {json_path.name} has no {onnx_path.name} beside it")
        actual = sha256_file(onnx_path)
        if actual != card.onnx_sha256:
            raise CardError(f"{onnx_path.name} sha256 {actual[:12]} != card's {card.onnx_sha256[:12]}")
    return card
