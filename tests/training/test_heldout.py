"""The held-out figures for image splits that separate the classes training saw from novel ones."""

import dataclasses

import numpy as np

from training.config import EvalConfig, TrainConfig
from training.heldout import known_classes_figures
from training.metrics.identification import kshot_top1


def _cfg(kshot: int) -> TrainConfig:
    return dataclasses.replace(TrainConfig(name="t"), eval=EvalConfig(kshot=kshot))


def test_known_classes_figure_leaves_out_a_novel_class_that_overlaps_a_known_one():
    # Classes a and b sit apart; novel class n sits on top of b, so b and n confuse each other.
    rng = np.random.default_rng(0)
    centres = {"a": [1.0, 0.0], "b": [0.0, 1.0], "n": [0.0, 1.0]}
    labels = np.repeat(["a", "b", "n"], 6)
    emb = np.array([centres[label] for label in labels]) + 0.05 * rng.standard_normal((len(labels), 2))
    known = labels != "n"

    figures = known_classes_figures(emb, labels, known, _cfg(kshot=2))

    assert figures == {"top1_2shot_known_classes": 1.0}
    assert kshot_top1(emb, labels, k=2, seed=0, n_rounds=5) < 0.9, "with n among them, b and n are confused"


def test_known_classes_figure_needs_two_known_classes_with_a_probe():
    labels = np.array(["a", "a", "a", "b", "b", "n", "n", "n"])
    emb = np.eye(8)
    assert known_classes_figures(emb, labels, labels != "n", _cfg(kshot=2)) == {}


def test_dataset_pixel_embeddings_chunk_by_chunk_are_those_of_the_whole_split(tmp_path):
    from PIL import Image

    from modelcard import InputSpec
    from training.data.dataset import ImageDataset
    from training.data.records import Record
    from training.heldout import dataset_pixel_embeddings
    from training.metrics.baseline import pixel_embeddings

    rng = np.random.default_rng(0)
    records = []
    for i in range(5):
        path = tmp_path / f"{i}.png"
        Image.fromarray(rng.integers(0, 256, (9, 7), dtype=np.uint8)).save(path)
        records.append(Record(source=str(path), label="ab"[i % 2]))
    ds = ImageDataset(records, InputSpec(height=6, width=4, channels=3, mean=(0.5,) * 3, std=(0.5,) * 3))

    whole = pixel_embeddings(np.stack([ds[i][0].numpy() for i in range(len(ds))]))
    np.testing.assert_array_equal(dataset_pixel_embeddings(ds, chunk=2), whole)
    assert whole.shape == (5, 3 * 6 * 4)
