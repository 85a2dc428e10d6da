"""The report's per-set table and confusion matrices."""

import numpy as np
import pytest

from training.heldout import per_set_figures, per_set_results
from training.report import confusion_files, per_set_table, plot_confusion


def test_per_set_table_lists_macro_and_micro_of_every_set_and_figure():
    table = per_set_table(
        {
            "unifesp": {
                "top1_5shot_train_refs": {
                    "macro": 0.5,
                    "micro": 0.75,
                    "classes": 21,
                    "macro_ci95": [0.4, 0.61],
                }
            },
            "mednist": {"top1_5shot_train_refs": {"macro": 1.0, "micro": 1.0, "classes": 5}},
        }
    )
    assert table.splitlines() == [
        "| source set | figure | macro | macro, 95 % interval | micro | classes |",
        "|---|---|---|---|---|---|",
        "| unifesp | top1_5shot_train_refs | 0.5000 | 0.4000–0.6100 | 0.7500 | 21 |",
        "| mednist | top1_5shot_train_refs | 1.0000 | – | 1.0000 | 5 |",
    ]


def test_per_set_confusions_diagonal_gives_the_per_set_with_novel_micro_figure():
    rng = np.random.default_rng(0)
    centres = {c: rng.normal(size=8) for c in ("x/a", "x/b", "x/c", "y/d", "y/e")}
    ref_labels = np.array([c for c in ("x/a", "x/b", "y/d", "y/e") for _ in range(6)])
    labels = np.array([c for c in centres for _ in range(8)])
    ref_emb = np.stack([centres[c] + rng.normal(scale=1.2, size=8) for c in ref_labels]).astype(np.float32)
    emb = np.stack([centres[c] + rng.normal(scale=1.2, size=8) for c in labels]).astype(np.float32)
    ref_groups, groups = np.char.partition(ref_labels, "/")[:, 0], np.char.partition(labels, "/")[:, 0]
    args = (ref_emb, ref_labels, ref_groups, emb, labels, groups)
    figures = per_set_figures(*args, k=3, seed=1)
    figures_again, confusions = per_set_results(*args, k=3, seed=1)
    assert figures_again == figures
    assert set(confusions) == {"x", "y"}
    for group, (classes, counts) in confusions.items():
        assert counts.trace() / counts.sum() == pytest.approx(
            figures[group]["top1_3shot_with_novel"]["micro"]
        )
        assert all(c.startswith(group + "/") for c in classes)
    assert "x/c" in confusions["x"][0]  # the novel class, enrolled from its own images
    assert 0 < np.trace(confusions["x"][1]) < confusions["x"][1].sum()  # noisy enough to confuse: can fail


def test_plot_confusion_writes_a_png_named_after_the_set(tmp_path):
    files = confusion_files({"magnetic_tile": ([], np.zeros((0, 0))), "": ([], np.zeros((0, 0)))})
    assert files == {"magnetic_tile": "confusion-magnetic_tile.png", "": "confusion-all.png"}
    plot_confusion(["a", "b"], np.array([[3, 1], [0, 4]]), tmp_path / files["magnetic_tile"], title="t")
    assert (tmp_path / files["magnetic_tile"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
