"""Export an encoder to ONNX with a dynamic batch axis, and check parity with PyTorch on real images.

The export fails (ExportError) unless ONNX Runtime reproduces PyTorch within `tolerance` (max abs diff).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

INPUT_NAME = "input"
OUTPUT_NAME = "embedding"


class ExportError(RuntimeError):
    """The exported model does not reproduce PyTorch closely enough, or is too large."""


def export_onnx(model: torch.nn.Module, sample: torch.Tensor, path: Path, *, opset: int = 17) -> Path:
    """Write `model` to `path` with input "input" (N,C,H,W) and output "embedding" (N,D), N dynamic."""
    model = model.eval().cpu()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (sample.cpu(),),
            str(path),
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
            opset_version=opset,
            dynamo=False,
        )
    return path


def onnx_embed(path: Path, batch: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run([OUTPUT_NAME], {INPUT_NAME: batch.astype(np.float32)})[0]


@torch.no_grad()
def check_parity(model: torch.nn.Module, path: Path, batch: np.ndarray, *, tolerance: float = 1e-4) -> float:
    """Compare PyTorch and ONNX Runtime on `batch` (and on its first item alone); return the max abs diff."""
    model = model.eval().cpu()
    expected = model(torch.from_numpy(batch)).numpy()
    got = onnx_embed(path, batch)
    single = onnx_embed(path, batch[:1])
    diff = float(max(np.abs(expected - got).max(), np.abs(expected[:1] - single).max()))
    if not np.isfinite(diff) or diff > tolerance:
        raise ExportError(f"ONNX parity check failed: max abs diff {diff:.3g} > {tolerance:g}")
    return diff


def export_with_parity(
    model: torch.nn.Module, batch: np.ndarray, path: Path, *, tolerance: float = 1e-4, max_mb: float = 20.0
) -> float:
    """Export, then verify parity on real preprocessed images and the size limit; return the diff."""
    export_onnx(model, torch.from_numpy(batch[:2]), path)
    size_mb = Path(path).stat().st_size / 1e6
    if size_mb > max_mb:
        raise ExportError(f"{path} is {size_mb:.1f} MB, over the {max_mb} MB limit")
    return check_parity(model, path, batch, tolerance=tolerance)
