"""The README's results table, built from model cards alone."""

from training.summary import rows_for


def _card(metrics: dict) -> dict:
    return {
        "name": "defects",
        "metrics": metrics,
        "threshold": {"target_far": 0.01, "value": 0.5},
        "input": {"height": 96, "width": 96},
        "training": {
            "encoder": "resnet-small",
            "loss": "multi-similarity",
            "epochs": 3,
            "minutes": 2.0,
            "device": "cpu",
            "config": {"model": {"pool": "gem"}},
        },
    }


def test_defects_target_is_judged_on_the_trained_classes_and_the_mixed_figure_is_shown_beside_it():
    rows = rows_for(
        _card(
            {
                "top1_5shot_known_classes": 0.975,
                "top1_5shot": 0.9,
                "novel_classes_top1_5shot": 0.6,
                "pixel_nn_baseline": {"top1_5shot_known_classes": 0.3, "top1_5shot": 0.25},
            }
        )
    )
    assert rows[0] == (
        "| `defects` | 5-shot top-1, held-out images of the trained classes | 97.5 % ✓ | 97.0 % | 30.0 % |"
    )
    assert rows[1].startswith(
        "| `defects` | 5-shot top-1, held-out images with the novel types among them | 90.0 % |"
    )
    assert "| 25.0 % |" in rows[1]
    assert "60.0 %" in rows[3]
    assert rows[-1].endswith(
        "resnet-small at 96×96, GeM pooling, multi-similarity, 3 epochs, 2 min, cpu | | |"
    )


def test_a_figure_below_its_target_is_marked_and_a_missing_one_is_a_dash():
    rows = rows_for(_card({"top1_5shot_known_classes": 0.82}))
    assert "82.0 % ✗" in rows[0]
    assert rows[1].split("|")[3].strip() == "–"


def test_a_warm_started_stage_says_so():
    card = _card({})
    card["training"]["config"]["init_from"] = "checkpoints/defects.pt"
    assert ", multi-similarity, a warm start, then 3 epochs, 2 min, cpu |" in rows_for(card)[-1]


def test_per_set_rows_show_macro_beside_micro_and_judge_the_target_on_macro():
    by_set = {
        "neu": {"top1_5shot_train_refs": {"macro": 0.992, "micro": 0.993, "classes": 5}},
        "magnetic_tile": {
            "top1_5shot_train_refs": {"macro": 0.6, "micro": 0.9, "classes": 6},
            "novel_classes_top1_5shot": {"macro": 0.5, "micro": 0.5, "classes": 1},
        },
    }
    rows = rows_for(_card({"by_set": by_set}))
    assert (
        "| `defects` | neu: 5-shot top-1, held-out images vs 5 training references, macro / micro | "
        "99.2 % ✓ / 99.3 % | 99.0 % | |" in rows
    )
    assert any("magnetic_tile: 5-shot top-1, held-out images" in r and "60.0 % ✗ / 90.0 %" in r for r in rows)
    assert (
        "| `defects` | magnetic_tile: 5-shot top-1, novel classes, macro / micro | 50.0 % / 50.0 % | – | |"
        in rows
    )


def test_per_set_rows_give_the_macro_interval_where_the_card_has_one():
    by_set = {
        "unifesp": {
            "top1_5shot_train_refs": {
                "macro": 0.789,
                "micro": 0.898,
                "classes": 21,
                "macro_ci95": [0.74, 0.831],
            }
        }
    }
    assert (
        "| `defects` | unifesp: 5-shot top-1, held-out images vs 5 training references, macro [95 % interval] / "
        "micro | 78.9 % ✗ [74.0, 83.1] / 89.8 % | 90.0 % | |" in rows_for(_card({"by_set": by_set}))
    )


def test_identify_rows_give_strangers_accepted_per_class_beside_per_probe():
    card = _card({})
    row = {"identities": 3, "k": 5, "threshold": 0.7, "fnir": 0.02}
    card["identification"] = {
        "target_fpir": 0.01,
        "test": [
            {**row, "target_fpir": 0.01, "fpir": 0.031, "fpir_micro": 0.024},
            {**row, "identities": 6, "target_fpir": 0.01, "fpir": 0.05},  # a card from before fpir_micro
            {**row, "k": 1, "target_fpir": 0.01, "fpir": 0.2},  # k = 1: not shown
        ],
    }
    shown = [r for r in rows_for(card) if "identify" in r]
    assert len(shown) == 2
    assert (
        "threshold (the default); strangers accepted 3.1 % per class, 2.4 % of probes | 2.0 % |" in shown[0]
    )
    assert "strangers accepted 5.0 % | 2.0 % |" in shown[1]
