"""Every committed model card matches its ONNX file: sha256, input spec, unit-norm embeddings of embedding_dim."""

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image

from modelcard import load_card, preprocess

MODELS = Path(__file__).resolve().parents[2] / "models"
CARDS = sorted(MODELS.glob("*.json"))


@pytest.mark.skipif(not CARDS, reason="no models committed under models/")
@pytest.mark.parametrize("card_path", CARDS, ids=lambda p: p.stem)
def test_shipped_model_matches_its_card(card_path):
    card = load_card(card_path)  # raises on a sha256 mismatch
    assert card.name == card_path.stem
    assert card_path.with_suffix(".onnx").stat().st_size < 32e6
    session = ort.InferenceSession(str(card_path.with_suffix(".onnx")), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 255, (70, 90, 3), dtype=np.uint8)) for _ in range(3)]
    batch = np.stack([preprocess(im, card.input) for im in images])
    out = session.run([card.output_name], {card.input.name: batch})[0]
    assert out.shape == (3, card.embedding_dim)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-4)
    assert (card_path.parent / f"{card.name}.report" / "README.md").is_file()


@pytest.mark.parametrize("name", ["omniglot", "faces", "defects", "bodyparts"])
def test_shipped_model_card_holds_threshold_and_metrics(name):
    path = MODELS / f"{name}.json"
    if not path.exists():
        pytest.skip(f"models/{name}.json is not committed")
    card = load_card(path)
    assert 0 < card.threshold.value < 2 and card.threshold.target_far is not None
    assert card.metrics["verification"]["roc_auc"] > 0.5
    assert card.dataset["split_seed"] is not None and card.training["device"]


CHECKPOINTS = sorted((MODELS.parent / "checkpoints").glob("*.pt"))


@pytest.mark.skipif(not CHECKPOINTS, reason="no checkpoints committed under checkpoints/")
@pytest.mark.parametrize("checkpoint", CHECKPOINTS, ids=lambda p: p.stem)
def test_checkpoint_rebuilds_its_encoder_and_matches_the_shipped_onnx(checkpoint):
    import torch

    from training.train import model_from_checkpoint

    model, cfg, state = model_from_checkpoint(checkpoint)
    x = np.random.default_rng(0).standard_normal((2, cfg.input.channels, cfg.input.height, cfg.input.width))
    x = x.astype(np.float32)
    with torch.no_grad():
        out = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    card_path = MODELS / f"{checkpoint.stem}.json"
    if card_path.exists():  # a shipped model's checkpoint holds exactly the weights of its ONNX
        assert load_card(card_path).onnx_sha256 == state["onnx_sha256"], "checkpoint and ONNX disagree"
        session = ort.InferenceSession(
            str(card_path.with_suffix(".onnx")), providers=["CPUExecutionProvider"]
        )
        np.testing.assert_allclose(session.run(None, {"input": x})[0], out, atol=1e-4)
