"""`python -m training evaluate --write-identification`: the measured table replaces the card's, every other
card field and the ONNX stay, and a model whose validation is too small for a table leaves its card alone."""

from __future__ import annotations

import json

import pytest

from modelcard import load_card
from modelcard.identification import Identification, IdentificationRow
from tests.support.tiny_encoder import write_model
from training.cli import write_identification

OLD = Identification(target_fpir=0.01, rows=(IdentificationRow(identities=10, k=5, threshold=0.9),))
NEW = Identification(
    target_fpir=0.05,
    rows=(
        IdentificationRow(identities=10, k=5, threshold=0.4),
        IdentificationRow(identities=30, k=5, threshold=0.3),
    ),
    statistic="centroid",
    method="measured",
)


def test_write_identification_replaces_only_the_table(tmp_path):
    sha = write_model(tmp_path, "toy", threshold=0.7, identification=OLD)
    before = json.loads((tmp_path / "toy.json").read_text())
    write_identification(tmp_path / "toy.json", NEW)
    after = json.loads((tmp_path / "toy.json").read_text())
    assert {k for k in before | after if before.get(k) != after.get(k)} == {"identification"}
    card = load_card(tmp_path / "toy.json")  # still matches its ONNX
    assert card.onnx_sha256 == sha and card.identification == NEW and card.threshold.value == 0.7


def test_write_identification_without_a_table_changes_nothing(tmp_path):
    write_model(tmp_path, "toy", identification=OLD)
    before = (tmp_path / "toy.json").read_bytes()
    with pytest.raises(SystemExit, match="too few"):
        write_identification(tmp_path / "toy.json", None)
    assert (tmp_path / "toy.json").read_bytes() == before
