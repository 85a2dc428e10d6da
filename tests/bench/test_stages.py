"""The stages scenario: per-stage milliseconds of the single-image pipeline, as the service runs it."""

from app.encoder import SessionConfig
from bench.payloads import synthetic_images
from bench.raw import load_encoder
from bench.stages import run_stages

IMAGES = synthetic_images(identities=3, per_identity=2, enroll_per_identity=1, size=24)


def test_run_stages_reports_every_stage_of_a_model_without_alignment(models_dir):
    encoder = load_encoder(models_dir, model="tiny", session=SessionConfig("cpu"))
    rows = run_stages(encoder, IMAGES.all_images, warmup=1)
    assert [r["stage"] for r in rows] == ["decode", "preprocess", "embed", "total"]
    by = {r["stage"]: r for r in rows}
    assert all(r["images"] == 6 and 0 <= r["median_ms"] <= r["p90_ms"] for r in rows)
    assert by["total"]["median_ms"] >= by["embed"]["median_ms"]
