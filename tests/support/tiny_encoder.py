"""A real tiny ONNX encoder and its model card, for tests of the service and the benchmark.

Flatten -> MatMul(seeded random 256x32) -> L2-normalize over a 16x16 grey input, with a dynamic batch, so
distinct random patterns land about sqrt(2) apart and a pattern plus small noise lands close to its own.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from modelcard import InputSpec, ModelCard, Threshold, sha256_file
from modelcard.identification import Identification

SIDE = 16
DIM = 32


def build_encoder(path: Path, *, seed: int) -> None:
    """Write the tiny encoder: input (N,1,16,16) -> embedding (N,32), unit length, dynamic batch."""
    weights = np.random.default_rng(seed).standard_normal((SIDE * SIDE, DIM)).astype(np.float32)
    nodes = [
        helper.make_node("Flatten", ["input"], ["flat"], axis=1),
        helper.make_node("MatMul", ["flat", "weights"], ["raw"]),
        helper.make_node("LpNormalization", ["raw"], ["embedding"], axis=1, p=2),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_encoder",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, SIDE, SIDE])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["N", DIM])],
        initializer=[numpy_helper.from_array(weights, name="weights")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def write_model(
    models_dir: Path,
    name: str,
    *,
    seed: int = 0,
    threshold: float = 0.5,
    identification: Identification | None = None,
    serving: dict | None = None,
) -> str:
    """`<name>.onnx` plus its card (sha256 filled in; optionally identify's table and a serving section);
    returns the ONNX sha256."""
    onnx_path = models_dir / f"{name}.onnx"
    build_encoder(onnx_path, seed=seed)
    spec = InputSpec(height=SIDE, width=SIDE, channels=1, mean=(0.5,), std=(0.5,), resize="stretch")
    sha = sha256_file(onnx_path)
    card = ModelCard(
        name=name,
        onnx_sha256=sha,
        input=spec,
        embedding_dim=DIM,
        metric="l2",
        threshold=Threshold(value=threshold),
        identification=identification,
        serving=serving or {},
    )
    card.save(models_dir / f"{name}.json")
    return sha
