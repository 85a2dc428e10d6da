"""Sampler invariants: balanced alternating pairs, and P x K batches."""

from collections import Counter

import pytest
import torch

from training.data.samplers import BalancedPairSampler, PKSampler

LABELS = [0] * 6 + [1] * 3 + [2] * 1 + [5] * 10  # unbalanced, one singleton, a gap in the ids


def test_balanced_pair_sampler_yields_exactly_half_same_pairs_alternating():
    pairs = list(BalancedPairSampler(LABELS, pairs_per_epoch=200, seed=0))
    assert len(pairs) == 200
    assert [same for _, _, same in pairs] == [1, 0] * 100


def test_balanced_pair_sampler_flags_match_labels_and_indices_differ():
    for i, j, same in BalancedPairSampler(LABELS, pairs_per_epoch=400, seed=1):
        assert i != j and same == int(LABELS[i] == LABELS[j])


def test_balanced_pair_sampler_same_pairs_draw_classes_uniformly():
    pairs = list(BalancedPairSampler(LABELS, pairs_per_epoch=6000, seed=2))
    counts = Counter(LABELS[i] for i, _, same in pairs if same)
    assert set(counts) == {0, 1, 5} and min(counts.values()) > 850


def test_balanced_pair_sampler_set_epoch_reshuffles_deterministically():
    sampler = BalancedPairSampler(LABELS, pairs_per_epoch=50, seed=3)
    first = list(sampler)
    sampler.set_epoch(1)
    second = list(sampler)
    again = BalancedPairSampler(LABELS, pairs_per_epoch=50, seed=3)
    again.set_epoch(1)
    assert second != first and second == list(again) and len(sampler) == 50


@pytest.mark.parametrize(
    ("labels", "pairs", "message"),
    [
        (LABELS, 7, "even"),
        (LABELS, 0, ">= 2"),
        ([4, 4, 4], 10, "2 classes"),
        ([0, 1, 2], 10, "at least 2 images"),
    ],
)
def test_balanced_pair_sampler_bad_arguments_raise_value_error(labels: list[int], pairs: int, message: str):
    with pytest.raises(ValueError, match=message):
        BalancedPairSampler(labels, pairs_per_epoch=pairs, seed=0)


def _batches(sampler: PKSampler) -> list[list[int]]:
    return list(sampler)


def test_pk_sampler_batches_hold_p_distinct_classes_with_k_images_each():
    batches = _batches(PKSampler(LABELS, p=3, k=4, batches_per_epoch=20, seed=0))
    assert len(batches) == 20
    for batch in batches:
        counts = Counter(LABELS[i] for i in batch)
        assert len(batch) == 12 and len(counts) == 3 and set(counts.values()) == {4}


def test_pk_sampler_takes_distinct_images_when_class_has_at_least_k():
    for batch in PKSampler(LABELS, p=2, k=5, batches_per_epoch=30, seed=1):
        for cls in {LABELS[i] for i in batch} & {0, 5}:
            members = [i for i in batch if LABELS[i] == cls]
            assert len(set(members)) == 5


def test_pk_sampler_small_class_gives_every_image_then_repeats():
    batches = [b for b in PKSampler(LABELS, p=3, k=5, batches_per_epoch=10, seed=2) if 6 in b]
    assert batches
    for batch in batches:
        members = [i for i in batch if LABELS[i] == 1]
        assert len(members) == 5 and set(members) == {6, 7, 8}


def test_pk_sampler_skips_classes_with_one_image_and_covers_the_rest_each_round():
    labels = [c for c in range(10) for _ in range(3)] + [99]
    batches = _batches(PKSampler(labels, p=2, k=2, batches_per_epoch=5, seed=4))
    seen = [labels[i] for b in batches for i in b]
    assert set(seen) == set(range(10)) and Counter(seen) == {c: 2 for c in range(10)}


def test_pk_sampler_set_epoch_reshuffles_deterministically():
    sampler = PKSampler(LABELS, p=2, k=2, batches_per_epoch=8, seed=5)
    first = _batches(sampler)
    sampler.set_epoch(3)
    other = PKSampler(LABELS, p=2, k=2, batches_per_epoch=8, seed=5)
    other.set_epoch(3)
    assert _batches(sampler) != first and _batches(sampler) == _batches(other) and len(sampler) == 8


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"p": 1}, "p must be"),
        ({"k": 1}, "k must be"),
        ({"batches_per_epoch": 0}, "batches_per_epoch"),
        ({"p": 2.0}, "p must be"),
        ({"seed": -1}, "seed"),
        ({"p": 4}, "only 3 classes"),
    ],
)
def test_pk_sampler_bad_arguments_raise_value_error(kwargs: dict, message: str):
    args = {"p": 2, "k": 2, "batches_per_epoch": 1, "seed": 0} | kwargs
    with pytest.raises(ValueError, match=message):
        PKSampler(LABELS, **args)


def test_pk_sampler_drives_a_torch_dataloader_as_batch_sampler():
    data = torch.arange(len(LABELS))
    sampler = PKSampler(LABELS, p=2, k=3, batches_per_epoch=4, seed=0)
    batches = list(torch.utils.data.DataLoader(data, batch_sampler=sampler))
    assert len(batches) == 4 and all(b.shape == (6,) for b in batches)


def test_pk_sampler_with_groups_draws_each_batch_from_one_group_when_it_can():
    from training.data.samplers import PKSampler

    labels = [c for c in range(12) for _ in range(3)]  # 12 classes x 3 images
    groups = ["a" if c < 8 else "b" for c in labels]  # group a: 8 classes, group b: 4 classes
    sampler = PKSampler(labels, p=4, k=2, batches_per_epoch=50, seed=0, groups=groups)
    for batch in sampler:
        assert len(batch) == 8 and len({labels[i] for i in batch}) == 4
        assert len({groups[i] for i in batch}) == 1  # both groups have >= p classes


def test_pk_sampler_with_small_group_tops_up_from_other_groups():
    from training.data.samplers import PKSampler

    labels = [c for c in range(6) for _ in range(2)]
    groups = ["a" if c < 2 else "b" for c in labels]  # group a has only 2 classes
    sampler = PKSampler(labels, p=4, k=2, batches_per_epoch=40, seed=1, groups=groups)
    batches = list(sampler)
    assert all(len({labels[i] for i in b}) == 4 for b in batches)
    assert any({groups[i] for i in b} == {"a", "b"} for b in batches)


def test_pk_sampler_rejects_groups_of_wrong_length():
    import pytest

    from training.data.samplers import PKSampler

    with pytest.raises(ValueError, match="groups"):
        PKSampler([0, 0, 1, 1], p=2, k=2, batches_per_epoch=1, seed=0, groups=["a"])
