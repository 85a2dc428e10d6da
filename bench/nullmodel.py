"""An encoder that costs nothing, behind a real model's card: what the service reaches without the model.

The `ceiling` scenario serves it in place of the real encoder: same card (input size, preprocessing,
embedding size), but a graph that averages each input channel and maps the means to an embedding by a fixed
projection (a few flops per image). Decoding, HTTP, batching, search and the response are all the same, so its
throughput is the service's own ceiling on the machine, the limit set by everything around the model.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from modelcard import sha256_file

OPSET = 17


def null_graph(
    *, input_name: str, output_name: str, channels: int, dim: int, seed: int = 0
) -> onnx.ModelProto:
    """(batch, channels, H, W) -> (batch, dim): per-channel means times a fixed random projection."""
    rng = np.random.default_rng(seed)
    weight = numpy_helper.from_array(rng.standard_normal((channels, dim)).astype(np.float32), "weight")
    bias = numpy_helper.from_array(rng.standard_normal(dim).astype(np.float32), "bias")
    nodes = [
        helper.make_node("ReduceMean", [input_name], ["means"], axes=[2, 3], keepdims=0),
        helper.make_node("MatMul", ["means", "weight"], ["projected"]),
        helper.make_node("Add", ["projected", "bias"], [output_name]),
    ]
    graph = helper.make_graph(
        nodes,
        "null-encoder",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["batch", channels, None, None])],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, ["batch", dim])],
        initializer=[weight, bias],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    onnx.checker.check_model(model)
    return model


def write_null_model(models_dir: Path, model: str, out_dir: Path) -> Path:
    """`out_dir/<model>.onnx` (the null graph) and `.json` (the real card, its sha256 updated); returns out_dir."""
    card = json.loads((Path(models_dir) / f"{model}.json").read_text())
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    onnx_path = out_dir / f"{model}.onnx"
    graph = null_graph(
        input_name=card["input"].get("name", "input"),
        output_name=card.get("output_name", "embedding"),
        channels=int(card["input"]["channels"]),
        dim=int(card["embedding_dim"]),
    )
    onnx.save(graph, onnx_path)
    card["onnx_sha256"] = sha256_file(onnx_path)
    (out_dir / f"{model}.json").write_text(json.dumps(card, indent=2))
    return out_dir
