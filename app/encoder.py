"""One ONNX encoder: an onnxruntime session built from a model card, run on a preprocessed batch.

Stages: decode (app.imaging) -> preprocess (modelcard, from the card alone) -> `Encoder.run` -> L2-normalize.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from modelcard import ModelCard
from modelcard.align import FaceAligner

log = logging.getLogger(__name__)

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"


@dataclass(frozen=True)
class SessionConfig:
    """How to build every inference session."""

    device: str = "auto"
    intra_op_threads: int = 1
    inter_op_threads: int = 1


def choose_providers(device: str, *, available: list[str]) -> list[str]:
    """CUDA first when asked for (or `auto` and present), always CPU as the fallback."""
    if device == "cpu":
        return [CPU]
    if CUDA in available:
        return [CUDA, CPU]
    if device == "cuda":
        raise ValueError(f"SG_DEVICE=cuda but onnxruntime offers only {available}")
    return [CPU]


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (a zero row stays zero)."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)


class Encoder:
    """A loaded model: its card, its session and the execution provider really in use."""

    def __init__(
        self,
        name: str,
        card: ModelCard,
        onnx_path: Path,
        config: SessionConfig,
        *,
        aligner: FaceAligner | None = None,
    ) -> None:
        if (aligner is None) != (card.input.align is None):
            raise ValueError(f"{name}: a card with input.align needs a face aligner, and only it")
        self.name = name
        self.card = card
        self.aligner = aligner
        options = ort.SessionOptions()
        options.intra_op_num_threads = config.intra_op_threads
        options.inter_op_num_threads = config.inter_op_threads
        providers = choose_providers(config.device, available=ort.get_available_providers())
        self._session = ort.InferenceSession(str(onnx_path), sess_options=options, providers=providers)
        self.provider: str = self._session.get_providers()[0]
        self._input_name = self._session.get_inputs()[0].name
        outputs = [o.name for o in self._session.get_outputs()]
        if card.output_name not in outputs:
            raise ValueError(f"{name}: card output {card.output_name!r} is not among the model's {outputs}")
        log.info("model %s loaded on %s", name, self.provider)

    @property
    def sha256(self) -> str:
        return self.card.onnx_sha256

    @property
    def dim(self) -> int:
        return self.card.embedding_dim

    @property
    def input_shape(self) -> tuple[int, int, int]:
        spec = self.card.input
        return (spec.channels, spec.height, spec.width)

    def run(self, batch: np.ndarray) -> np.ndarray:
        """(n, C, H, W) float32 -> (n, dim) unit-length float32; ValueError on a shape the card forbids."""
        if batch.ndim != 4 or tuple(batch.shape[1:]) != self.input_shape:
            raise ValueError(f"{self.name}: batch shape {batch.shape} does not match (n, {self.input_shape})")
        (out,) = self._session.run([self.card.output_name], {self._input_name: batch.astype(np.float32)})
        if out.shape != (batch.shape[0], self.dim):
            raise ValueError(f"{self.name}: output shape {out.shape} != ({batch.shape[0]}, {self.dim})")
        return l2_normalize(np.asarray(out, dtype=np.float32))
