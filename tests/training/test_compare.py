"""Validation figures for choosing between encoders: images that differ only in brightness per class."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from modelcard import InputSpec
from training.compare import validation_figures
from training.data.records import Record
from training.data.splits import Split
from training.encoders.base import EmbeddingNet


def _records(root: Path, group: str, label: str, level: int, n: int) -> list[Record]:
    (root / label).mkdir(parents=True)
    out = []
    for i in range(n):
        path = root / label / f"{i}.png"
        Image.fromarray(np.full((8, 8), level + i, dtype=np.uint8)).save(path)
        out.append(Record(source=str(path), label=label, group=group))
    return out


def test_validation_figures_of_a_separating_encoder_are_perfect_in_every_set(tmp_path):
    # The embedding (m, 1 - m / 2), normalized, of the mean grey level m in [0, 1] turns monotonically with m:
    # each class spans 12 levels, 60 or more apart. The novel class "b/z" enrols from its own validation images.
    a_x, a_y = _records(tmp_path, "a", "a/x", 20, 12), _records(tmp_path, "a", "a/y", 100, 12)
    b_x, b_z = _records(tmp_path, "b", "b/x", 180, 12), _records(tmp_path, "b", "b/z", 240, 8)
    split = Split(train=a_x[:6] + a_y[:6] + b_x[:6], val=a_x[6:] + a_y[6:] + b_x[6:] + b_z, test=[])
    head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(1, 2))
    with torch.no_grad():
        head[2].weight.copy_(torch.tensor([[1.0], [-0.5]]))
        head[2].bias.copy_(torch.tensor([0.0, 1.0]))
    model = EmbeddingNet(nn.Identity(), head, config={"embedding_dim": 2})
    spec = InputSpec(height=8, width=8, channels=1, mean=(0.0,), std=(1.0,))
    figures = validation_figures(model, spec, split, k=2, seed=0)
    assert figures["kshot_macro"] == pytest.approx(1.0)
    a = figures["by_set"]["a"]["top1_2shot_train_refs"]
    assert (a["macro"], a["micro"], a["classes"]) == (1.0, 1.0, 2)
    low, high = a["macro_ci95"]  # perfect on a few probes: certain of nothing but a high rate
    assert 0.5 < low < high <= 1.0
    assert figures["by_set"]["b"]["novel_classes_top1_2shot"]["classes"] == 1
    scores = figures["scores"]  # per probe, its hit rate over the enrolments: what vs_first compares
    assert sorted(scores) == ["a/x", "a/y", "b/x", "b/z"]
    # 6 probes per trained class; the novel class's 8 images, 2 enrolled in each round, leave 6 probe positions
    assert [len(scores[c]) for c in sorted(scores)] == [6, 6, 6, 6]
    assert all(np.all(s == 1.0) for s in scores.values())


def test_the_frozen_trunk_is_set_beside_only_an_encoder_of_its_own_input(tmp_path):
    from training.compare import frozen_beside
    from training.frozen import backbone_spec

    grey = InputSpec(height=64, width=64, channels=1, mean=(0.5,), std=(0.5,))
    brightened = dataclasses.replace(backbone_spec("mobilenet-v2", size=64), brighten=0.45)
    for spec in (grey, brightened):
        with pytest.raises(ValueError, match="the frozen trunk takes"):
            frozen_beside(spec, tmp_path, threads=1)
    assert list(tmp_path.iterdir()) == []  # refused before anything was built
