"""`python -m training evaluate --write-by-set`: the measured per-set figures replace the card's, every other
card field and the ONNX stay, and a test split with no per-set figures leaves the card alone."""

from __future__ import annotations

import json

import pytest

from modelcard import load_card
from tests.support.tiny_encoder import write_model
from training.cli import write_by_set

BY_SET = {
    "neu": {"top1_5shot_train_refs": {"macro": 1.0, "micro": 1.0, "classes": 5, "macro_ci95": [1.0, 1.0]}},
    "magnetic_tile": {
        "top1_5shot_train_refs": {"macro": 0.9, "micro": 0.93, "classes": 6, "macro_ci95": [0.87, 0.93]}
    },
}


def test_write_by_set_replaces_only_the_per_set_figures(tmp_path):
    sha = write_model(tmp_path, "toy", threshold=0.7)
    before = json.loads((tmp_path / "toy.json").read_text())
    write_by_set(tmp_path / "toy.json", {"by_set": BY_SET, "top1_5shot": 0.5})
    after = json.loads((tmp_path / "toy.json").read_text())
    assert {k for k in before | after if before.get(k) != after.get(k)} == {"metrics"}
    changed = {
        k for k in before["metrics"] | after["metrics"] if before["metrics"].get(k) != after["metrics"].get(k)
    }
    assert changed == {"by_set"}
    card = load_card(tmp_path / "toy.json")  # still matches its ONNX
    assert card.onnx_sha256 == sha and card.metrics["by_set"] == BY_SET


def test_write_by_set_without_figures_changes_nothing(tmp_path):
    write_model(tmp_path, "toy")
    before = (tmp_path / "toy.json").read_bytes()
    with pytest.raises(SystemExit, match="per-set"):
        write_by_set(tmp_path / "toy.json", {"top1_5shot": 0.5})
    assert (tmp_path / "toy.json").read_bytes() == before
