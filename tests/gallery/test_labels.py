import numpy as np
import pytest

from gallery.labels import NONE, ReferenceLabels


def test_codes_map_ids_to_identities_and_everything_else_to_none():
    labels = ReferenceLabels.from_pairs([(np.array([1, 2]), ["alice", "bob"]), (np.array([5]), ["alice"])])
    codes = labels.codes(np.array([[1, 2, 5], [3, -1, 99]]))
    assert codes.shape == (2, 3)
    assert [labels.name(c) for c in codes[0]] == ["alice", "bob", "alice"]
    assert codes[1].tolist() == [NONE, NONE, NONE]
    assert len(labels) == 3


def test_add_grows_past_the_largest_id_and_remove_forgets():
    labels = ReferenceLabels()
    labels.add([1, 2, 3], "alice")
    labels.add([1000], "bob")
    labels.remove([2, 5000, -1])  # ids never issued are ignored
    codes = labels.codes(np.array([1, 2, 3, 1000]))
    assert [None if c == NONE else labels.name(c) for c in codes] == ["alice", None, "alice", "bob"]
    assert len(labels) == 3


def test_an_identity_added_again_keeps_its_code():
    labels = ReferenceLabels()
    labels.add([1], "alice")
    labels.remove([1])
    labels.add([2], "alice")
    assert labels.codes(np.array([2]))[0] == 0


def test_negative_ids_are_refused():
    with pytest.raises(ValueError):
        ReferenceLabels().add([-3], "alice")
