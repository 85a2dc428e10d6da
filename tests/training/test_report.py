"""The report's per-set table."""

from training.report import per_set_table


def test_per_set_table_lists_macro_and_micro_of_every_set_and_figure():
    table = per_set_table(
        {
            "unifesp": {"top1_5shot_train_refs": {"macro": 0.5, "micro": 0.75, "classes": 21}},
            "mednist": {"top1_5shot_train_refs": {"macro": 1.0, "micro": 1.0, "classes": 5}},
        }
    )
    assert table.splitlines() == [
        "| source set | figure | macro | micro | classes |",
        "|---|---|---|---|---|",
        "| unifesp | top1_5shot_train_refs | 0.5000 | 0.7500 | 21 |",
        "| mednist | top1_5shot_train_refs | 1.0000 | 1.0000 | 5 |",
    ]
