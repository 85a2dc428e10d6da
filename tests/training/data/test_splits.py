"""Seeded splits: by class (disjoint identities), by image within class, and by group."""

from collections.abc import Callable

import pytest

from training.data.records import Record
from training.data.splits import Split, split_by_class, split_by_group, split_by_image

MakeRecords = Callable[..., list[Record]]


def _labels(records: list[Record]) -> set[str]:
    return {r.label for r in records}


def test_split_by_class_parts_have_disjoint_classes_and_keep_every_record(make_records: MakeRecords):
    records = make_records({"a": 20, "b": 10})
    split = split_by_class(records, val=0.2, test=0.2, seed=0)
    assert not _labels(split.train) & _labels(split.val)
    assert not _labels(split.train) & _labels(split.test) and not _labels(split.val) & _labels(split.test)
    assert sorted(split.train + split.val + split.test, key=records.index) == records


def test_split_by_class_honours_class_fractions(make_records: MakeRecords):
    split = split_by_class(make_records({"a": 100}), val=0.2, test=0.1, seed=3)
    assert split.summary() == {
        "train": {"classes": 70, "images": 350},
        "val": {"classes": 20, "images": 100},
        "test": {"classes": 10, "images": 50},
    }


def test_split_by_class_apportions_overall_count_across_groups(make_records: MakeRecords):
    split = split_by_class(make_records({"a": 35, "b": 35, "c": 30}), val=0.1, test=0.1, seed=0)
    assert len(_labels(split.val)) == 10 and len(_labels(split.test)) == 10


def test_split_by_class_every_group_contributes_to_each_part(make_records: MakeRecords):
    split = split_by_class(make_records({"big": 40, "small": 4, "tiny": 3}), val=0.1, test=0.1, seed=1)
    for part in (split.train, split.val, split.test):
        assert {r.group for r in part} == {"big", "small", "tiny"}


def test_split_by_class_group_too_small_to_share_stays_in_train(make_records: MakeRecords):
    split = split_by_class(make_records({"big": 20, "solo": 1, "pair": 2}), val=0.2, test=0.2, seed=0)
    assert "solo/c000" in _labels(split.train)
    assert {r.group for r in split.train} == {"big", "solo", "pair"}


def test_split_by_class_same_seed_repeats_and_other_seed_differs(make_records: MakeRecords):
    records = make_records({"a": 30, "b": 30})
    assert split_by_class(records, val=0.2, test=0.2, seed=5) == split_by_class(
        records, val=0.2, test=0.2, seed=5
    )
    assert split_by_class(records, val=0.2, test=0.2, seed=5) != split_by_class(
        records, val=0.2, test=0.2, seed=6
    )


@pytest.mark.parametrize(("val", "test"), [(-0.1, 0.1), (0.5, 0.5), (1.0, 0.0)])
def test_split_by_class_bad_fractions_raise_value_error(make_records: MakeRecords, val: float, test: float):
    with pytest.raises(ValueError, match="fractions"):
        split_by_class(make_records({"a": 10}), val=val, test=test, seed=0)


def test_split_by_image_keeps_same_classes_everywhere_with_disjoint_images(make_records: MakeRecords):
    records = make_records({"a": 6, "b": 4}, per_class=10)
    split = split_by_image(records, val=0.2, test=0.1, seed=0)
    assert _labels(split.train) == _labels(split.val) == _labels(split.test) == _labels(records)
    sources = [r.source for r in split.train + split.val + split.test]
    assert sorted(sources) == sorted(r.source for r in records)


def test_split_by_image_honours_image_fractions_per_class(make_records: MakeRecords):
    split = split_by_image(make_records({"a": 3}, per_class=20), val=0.1, test=0.2, seed=0)
    assert split.summary()["val"] == {"classes": 3, "images": 6}
    assert split.summary()["test"] == {"classes": 3, "images": 12}


def test_split_by_image_small_classes_keep_min_train_images(make_records: MakeRecords):
    records = make_records({"a": 5}, per_class=3) + make_records({"b": 1}, per_class=1)
    split = split_by_image(records, val=0.34, test=0.34, seed=0, min_train=2)
    for label in _labels(records):
        n = sum(r.label == label for r in records)
        assert sum(r.label == label for r in split.train) >= min(2, n)


def test_split_by_image_same_seed_repeats_and_other_seed_differs(make_records: MakeRecords):
    records = make_records({"a": 5}, per_class=10)
    assert split_by_image(records, val=0.2, test=0.2, seed=1) == split_by_image(
        records, val=0.2, test=0.2, seed=1
    )
    assert split_by_image(records, val=0.2, test=0.2, seed=1) != split_by_image(
        records, val=0.2, test=0.2, seed=2
    )


def test_split_by_group_named_groups_go_wholly_to_val_and_test(make_records: MakeRecords):
    records = make_records({"Greek": 3, "Latin": 3, "Korean": 3, "Hebrew": 3})
    split = split_by_group(records, val_groups=["Greek"], test_groups="Korean", seed=0)
    assert {r.group for r in split.val} == {"Greek"} and {r.group for r in split.test} == {"Korean"}
    assert {r.group for r in split.train} == {"Latin", "Hebrew"}


def test_split_by_group_counts_pick_seeded_disjoint_groups(make_records: MakeRecords):
    records = make_records({f"g{i}": 2 for i in range(10)})
    split = split_by_group(records, val_groups=2, test_groups=3, seed=4)
    groups = [{r.group for r in part} for part in (split.train, split.val, split.test)]
    assert [len(g) for g in groups] == [5, 2, 3] and set.union(*groups) == {f"g{i}" for i in range(10)}
    assert split == split_by_group(records, val_groups=2, test_groups=3, seed=4)
    assert split != split_by_group(records, val_groups=2, test_groups=3, seed=5)


@pytest.mark.parametrize(
    ("val_groups", "test_groups", "message"),
    [
        (["Nope"], 1, "unknown groups"),
        (["a"], ["a"], "both val and test"),
        (2, 1, "keep one"),
        (-1, 1, ">= 0"),
    ],
)
def test_split_by_group_bad_request_raises_value_error(
    make_records: MakeRecords, val_groups: int | list[str], test_groups: int | list[str], message: str
):
    with pytest.raises(ValueError, match=message):
        split_by_group(
            make_records({"a": 2, "b": 2, "c": 2}), val_groups=val_groups, test_groups=test_groups, seed=0
        )


def test_split_summary_counts_classes_and_images():
    split = Split(
        train=[Record("x", "a"), Record("y", "a"), Record("z", "b")], val=[Record("w", "c")], test=[]
    )
    assert split.summary() == {
        "train": {"classes": 2, "images": 3},
        "val": {"classes": 1, "images": 1},
        "test": {"classes": 0, "images": 0},
    }
