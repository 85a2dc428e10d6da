"""Model discovery: good cards load, broken ones are skipped with their reason."""

from __future__ import annotations

import shutil

from app.encoder import SessionConfig
from app.models import load_models

CPU = SessionConfig(device="cpu")


def test_load_models_loads_every_valid_card(models_dir):
    loaded = load_models(models_dir, CPU)
    assert sorted(loaded.encoders) == ["faces", "toy"] and loaded.skipped == {}
    assert loaded.encoders["toy"].dim == 32


def test_load_models_missing_directory_loads_nothing(tmp_path):
    loaded = load_models(tmp_path / "absent", CPU)
    assert loaded.encoders == {} and loaded.skipped == {}


def test_load_models_skips_sha_mismatch_missing_onnx_and_bad_json(tmp_path, models_dir):
    shutil.copytree(models_dir, tmp_path / "m")
    models = tmp_path / "m"
    (models / "toy.onnx").write_bytes(b"other bytes")
    shutil.copy(models / "faces.json", models / "orphan.json")
    (models / "junk.json").write_text("[")
    loaded = load_models(models, CPU)
    assert list(loaded.encoders) == ["faces"]
    assert "sha256" in loaded.skipped["toy"]
    assert "orphan.onnx" in loaded.skipped["orphan"]
    assert "junk" in loaded.skipped


def test_load_models_skips_card_whose_output_name_is_wrong(tmp_path, models_dir):
    shutil.copytree(models_dir, tmp_path / "m")
    card = tmp_path / "m" / "toy.json"
    card.write_text(card.read_text().replace('"output_name": "embedding"', '"output_name": "features"'))
    loaded = load_models(tmp_path / "m", CPU)
    assert "features" in loaded.skipped["toy"]
