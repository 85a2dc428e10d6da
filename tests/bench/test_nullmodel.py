"""The null encoder behind a real card: same input and output, valid card, next to no work per image."""

import numpy as np
import onnxruntime as ort

from bench.nullmodel import write_null_model
from modelcard import load_card

from .conftest import MODEL


def test_null_model_keeps_the_card_and_answers_its_shapes(models_dir, tmp_path):
    out = write_null_model(models_dir, MODEL, tmp_path / "null")
    real, null = load_card(models_dir / f"{MODEL}.json"), load_card(out / f"{MODEL}.json")  # sha256 checked
    assert null.onnx_sha256 != real.onnx_sha256
    assert (null.input, null.embedding_dim, null.threshold) == (
        real.input,
        real.embedding_dim,
        real.threshold,
    )
    session = ort.InferenceSession(str(out / f"{MODEL}.onnx"), providers=["CPUExecutionProvider"])
    spec = real.input
    batch = np.random.default_rng(0).standard_normal((5, spec.channels, spec.height, spec.width))
    (embeddings,) = session.run(None, {session.get_inputs()[0].name: batch.astype(np.float32)})
    assert embeddings.shape == (5, real.embedding_dim) and np.isfinite(embeddings).all()
    assert len(session.get_inputs()) == 1 and session.get_outputs()[0].name == real.output_name
