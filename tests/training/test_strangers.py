"""Which strangers a threshold lets through, class by class."""

import numpy as np
import pytest

from training.strangers import strangers_by_class


def test_the_class_lying_on_an_enrolled_one_is_the_stranger_accepted_and_names_that_class():
    # a, b, c sit apart; n (4 images) lies on a: whenever a is enrolled, n's probes are taken for it
    rng = np.random.default_rng(0)
    centres = {"a": [1.0, 0.0, 0.0], "b": [0.0, 1.0, 0.0], "c": [0.0, 0.0, 1.0], "n": [1.0, 0.0, 0.0]}
    labels = np.repeat(["a", "b", "c", "n"], [6, 6, 6, 4])
    emb = np.array([centres[c] for c in labels]) + 0.01 * rng.standard_normal((len(labels), 3))

    found = strangers_by_class(emb, labels, identities=1, k=2, threshold=0.2, rounds=40, seed=0)

    assert found[0].label in ("n", "a") and {s.label for s in found} == {"a", "b", "c", "n"}
    by = {s.label: s for s in found}
    assert set(by["n"].taken_for) == {"a"} and set(by["a"].taken_for) == {"n"}
    assert by["b"].accepted == 0.0 and by["b"].taken_for == {}
    assert 0 < by["n"].accepted < 1
    assert sum(s.share_of_all for s in found) == pytest.approx(
        sum(s.accepted * s.probes for s in found) / sum(s.probes for s in found)
    )


def test_strangers_need_a_class_beyond_the_gallery():
    with pytest.raises(ValueError, match="at least 3 classes"):
        strangers_by_class(
            np.eye(6), np.repeat(["a", "b"], 3), identities=2, k=1, threshold=1.0, rounds=1, seed=0
        )
