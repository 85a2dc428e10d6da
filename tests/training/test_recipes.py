"""Recipe splits: novel classes are held out whole, so the test split measures classes training never saw."""

import dataclasses

import pytest

from training.config import DataConfig
from training.data.records import Record
from training.recipes import make_split, recipe_config


def _records(counts: dict[str, int]) -> list[Record]:
    return [
        Record(source=f"{label}/{i}.png", label=label, group="g")
        for label, n in counts.items()
        for i in range(n)
    ]


def _image_data(novel: tuple[str, ...]) -> DataConfig:
    return DataConfig(recipe="folder", split="image", val=0.2, test=0.2, novel_classes=novel)


def test_two_novel_classes_go_whole_one_to_val_and_one_to_test():
    split = make_split(_records({"a": 10, "b": 10, "n1": 6, "n2": 8}), _image_data(("n1", "n2")))
    assert {r.label for r in split.train} == {"a", "b"}
    val_novel = {r.label for r in split.val} - {"a", "b"}
    test_novel = {r.label for r in split.test} - {"a", "b"}
    assert len(val_novel) == len(test_novel) == 1 and val_novel | test_novel == {"n1", "n2"}
    assert sum(r.label in val_novel for r in split.val) == {"n1": 6, "n2": 8}[val_novel.pop()]


def test_one_novel_class_is_shared_half_and_half_between_val_and_test():
    records = _records({"a": 10, "b": 10, "n": 9})
    split = make_split(records, _image_data(("n",)))
    val_n = [r for r in split.val if r.label == "n"]
    test_n = [r for r in split.test if r.label == "n"]
    assert "n" not in {r.label for r in split.train}
    assert (len(val_n), len(test_n)) == (4, 5)
    assert not set(val_n) & set(test_n)
    assert sorted(split.train + split.val + split.test, key=records.index) == records
    assert val_n == sorted(val_n, key=records.index) and test_n == sorted(test_n, key=records.index), (
        "each part keeps the input order"
    )
    other_seed = make_split(records, dataclasses.replace(_image_data(("n",)), seed=1))
    assert {r for r in other_seed.test if r.label == "n"} != set(test_n), "the halves follow the seed"


def test_unknown_novel_class_is_an_error():
    with pytest.raises(ValueError, match="novel classes not in the data"):
        make_split(_records({"a": 10, "b": 10}), _image_data(("zz",)))


def test_defects_recipe_trains_on_every_magnetic_tile_class_and_holds_out_a_steel_type():
    data = recipe_config("defects").data
    assert data.novel_classes == ("neu/pitted_surface",)
    assert data.split == "image"


def test_images_an_ancestor_split_trained_on_leave_val_and_test():
    # The ancestor held out n and m; the warm start trains on m and holds out n only. m sorts before the
    # other classes, so adding it reshuffles them and some of today's val/test images were the ancestor's.
    records = _records({"p": 30, "q": 30, "n": 10, "m": 12})
    plain = make_split(records, _image_data(("n",)))
    ancestor = make_split(records, _image_data(("n", "m")))
    clean = make_split(records, dataclasses.replace(_image_data(("n",)), ancestor_novel_classes=("n", "m")))

    seen = set(ancestor.train)
    assert seen & set(plain.val + plain.test), "the case is only worth testing when the splits overlap"
    assert clean.train == plain.train
    assert not seen & set(clean.val + clean.test)
    assert set(clean.test) == set(plain.test) - seen and set(clean.val) == set(plain.val) - seen
    assert [r for r in clean.test if r.label == "n"] == [r for r in plain.test if r.label == "n"]


@pytest.mark.parametrize(
    ("tuned", "scratch"), [("bodyparts-128", "bodyparts-scratch"), ("defects-imagenet", "defects-scratch")]
)
def test_pretrained_recipe_keeps_the_split_and_feeds_imagenet_input(tuned, scratch):
    from training.encoders.pretrained import IMAGENET_MEAN, IMAGENET_STD

    a, b = recipe_config(tuned), recipe_config(scratch)
    assert a.data == b.data  # same split, so the two compare on the same images
    assert (a.model.encoder, a.model.pretrained) == ("mobilenet-v2", "imagenet")
    assert (a.input.channels, a.input.mean, a.input.std) == (3, IMAGENET_MEAN, IMAGENET_STD)
    assert a.optim.freeze_epochs > 0 and 0 < a.optim.trunk_lr_mult < 1 and a.eval.select == "kshot_macro"


@pytest.mark.parametrize(
    ("stages", "shipped_size"),
    [
        (("defects-imagenet", "defects-160", "defects-224", "defects"), 224),
        (("bodyparts-128", "bodyparts-224", "bodyparts"), 256),
    ],
)
def test_staged_recipe_continues_from_each_stage_and_writes_only_the_shipped_name(stages, shipped_size):
    configs = [recipe_config(name) for name in stages]
    for first, then in zip(configs, configs[1:], strict=False):
        assert then.init_from == f"{first.run_dir}/{first.name}/best.pt" and first.name != then.name
        # the same split, but for the last defects stage's refit with the held-out type's validation images
        assert dataclasses.replace(then.data, train_novel_val=first.data.train_novel_val) == first.data
        assert then.model == first.model
        assert (then.input.channels, then.input.mean, then.input.std) == (
            first.input.channels, first.input.mean, first.input.std
        )  # fmt: skip
        assert then.optim.freeze_epochs == 0 and then.optim.warmup_epochs == 0
    *earlier, shipped = configs
    assert all(c.out_dir == "runs" for c in earlier)
    assert (shipped.name, shipped.out_dir) == (stages[-1], "models")
    assert (shipped.input.height, shipped.input.width) == (shipped_size, shipped_size)


@pytest.mark.parametrize("ancestor", [None, ("n", "m"), ("m", "n")])
def test_a_refit_trains_on_the_novel_classes_validation_images_and_keeps_the_test_split(ancestor):
    # as defects: the warm start's ancestor held out another class (m) beside today's novel one (n)
    records = _records({"a": 10, "b": 10, "m": 7, "n": 9})
    data = dataclasses.replace(_image_data(("n",)), ancestor_novel_classes=ancestor)
    chosen = make_split(records, data)
    refit = make_split(records, dataclasses.replace(data, train_novel_val=True))
    assert refit.test == chosen.test  # the ancestor's split is the one it trained on, without the refit
    novel_val = [r for r in chosen.val if r.label == "n"]
    assert novel_val and refit.train == chosen.train + novel_val
    assert refit.val == [r for r in chosen.val if r.label != "n"]
