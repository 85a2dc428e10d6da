"""The ONNX encoder: provider choice, shape checks, unit-length output from the real tiny model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.encoder import CPU, CUDA, Encoder, SessionConfig, choose_providers, l2_normalize
from modelcard import load_card


@pytest.fixture(scope="module")
def encoder(models_dir: Path) -> Encoder:
    card_path = models_dir / "toy.json"
    return Encoder("toy", load_card(card_path), card_path.with_suffix(".onnx"), SessionConfig(device="cpu"))


def test_choose_providers_auto_with_cuda_puts_cuda_first():
    assert choose_providers("auto", available=[CUDA, CPU]) == [CUDA, CPU]


def test_choose_providers_auto_without_cuda_uses_cpu():
    assert choose_providers("auto", available=[CPU]) == [CPU]


def test_choose_providers_cpu_ignores_cuda():
    assert choose_providers("cpu", available=[CUDA, CPU]) == [CPU]


def test_choose_providers_cuda_missing_raises():
    with pytest.raises(ValueError, match="SG_DEVICE=cuda"):
        choose_providers("cuda", available=[CPU])


def test_l2_normalize_scales_rows_and_keeps_zero_rows():
    out = l2_normalize(np.array([[3.0, 4.0], [0.0, 0.0]], dtype=np.float32))
    np.testing.assert_allclose(out, [[0.6, 0.8], [0.0, 0.0]], rtol=1e-6)


def test_encoder_reports_provider_in_use(encoder):
    assert encoder.provider == CPU


def test_encoder_run_returns_unit_rows_of_card_dim(helpers, encoder):
    batch = np.random.default_rng(1).uniform(-1, 1, (5, 1, helpers.SIDE, helpers.SIDE)).astype(np.float32)
    out = encoder.run(batch)
    assert out.shape == (5, helpers.DIM) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-5)


def test_encoder_run_batch_equals_single_runs(helpers, encoder):
    batch = np.random.default_rng(2).uniform(-1, 1, (3, 1, helpers.SIDE, helpers.SIDE)).astype(np.float32)
    singles = np.concatenate([encoder.run(batch[i : i + 1]) for i in range(3)])
    np.testing.assert_allclose(encoder.run(batch), singles, atol=1e-6)


def test_encoder_run_wrong_shape_raises(helpers, encoder):
    with pytest.raises(ValueError, match="does not match"):
        encoder.run(np.zeros((2, 3, helpers.SIDE, helpers.SIDE), dtype=np.float32))
