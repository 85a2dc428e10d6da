"""Shared hand-made inputs for the metric tests."""

from collections.abc import Callable

import numpy as np
import pytest


@pytest.fixture
def six_pairs() -> tuple[np.ndarray, np.ndarray]:
    """Six scored pairs, shuffled: genuine at 0.1, 0.2, 0.4 and impostor at 0.3, 0.5, 0.6.

    Sorted by distance: G G I G I I. ROC points (FAR, TAR) at each threshold t (accept d <= t):
      below 0.1 (0, 0) | 0.1 (0, 1/3) | 0.2 (0, 2/3) | 0.3 (1/3, 2/3)
      0.4 (1/3, 1) | 0.5 (2/3, 1) | 0.6 (1, 1)
    """
    distances = np.array([0.5, 0.1, 0.4, 0.6, 0.2, 0.3])
    same = np.array([False, True, True, False, True, False])
    return distances, same


@pytest.fixture
def clustered() -> Callable[[int, int], tuple[np.ndarray, np.ndarray]]:
    """clustered(n_classes, per_class) -> (embeddings, labels): class c's images are one-hot e_c plus a
    little noise, so every nearest neighbour is of the same class."""

    def make(n_classes: int, per_class: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(0)
        labels = np.repeat(np.arange(n_classes), per_class)
        return np.eye(n_classes)[labels] + 0.01 * rng.standard_normal((len(labels), n_classes)), labels

    return make
