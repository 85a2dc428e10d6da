"""The raw scenario: the service's encoder alone on pre-decoded tensors, at each batch size."""

import numpy as np
import onnxruntime as ort
import pytest

from app.encoder import CUDA, SessionConfig
from bench.payloads import synthetic_images
from bench.raw import decoded_tensors, load_encoder, run_raw, tile_batch

IMAGES = synthetic_images(identities=3, per_identity=2, enroll_per_identity=1, size=24)


def test_tile_batch_cycles_rows_into_a_contiguous_batch():
    tensors = np.arange(3, dtype=np.float32).reshape(3, 1, 1, 1)
    batch = tile_batch(tensors, size=5)
    assert batch.flags["C_CONTIGUOUS"] and batch.ravel().tolist() == [0, 1, 2, 0, 1]


def test_tile_batch_zero_size_raises_value_error():
    with pytest.raises(ValueError, match="size >= 1"):
        tile_batch(np.zeros((2, 1, 1, 1), np.float32), size=0)


def test_load_encoder_missing_card_raises_value_error(models_dir):
    with pytest.raises(ValueError, match="no model card"):
        load_encoder(models_dir, model="absent", session=SessionConfig("cpu"))


def test_run_raw_reports_each_batch_size(models_dir):
    encoder = load_encoder(models_dir, model="tiny", session=SessionConfig("cpu"))
    tensors = decoded_tensors(encoder, IMAGES.all_images)
    assert tensors.shape == (6, 1, 16, 16)
    runs = run_raw(encoder, tensors, batches=(1, 8), duration_s=0.05)
    assert [r["batch"] for r in runs] == [1, 8]
    for run in runs:
        assert run["requests"] > 0 and run["errors"] == 0 and run["mean_batch_size"] == run["batch"]
        assert run["images_per_s"] == pytest.approx(run["req_per_s"] * run["batch"], rel=0.01)


@pytest.mark.gpu
@pytest.mark.skipif(
    CUDA not in ort.get_available_providers(), reason="no CUDA execution provider on this machine"
)
def test_run_raw_on_cuda_uses_the_cuda_provider(models_dir):
    encoder = load_encoder(models_dir, model="tiny", session=SessionConfig("cuda"))
    assert encoder.provider == CUDA
    runs = run_raw(encoder, decoded_tensors(encoder, IMAGES.all_images), batches=(64,), duration_s=0.2)
    assert runs[0]["images_per_s"] > 0
