"""N-way k-shot task accuracy on embeddings whose answer is known."""

import numpy as np
import pytest

from training.metrics.fewshot import nway_kshot_accuracy


def test_nway_kshot_separated_classes_score_100_percent(clustered):
    emb, labels = clustered(8, 4)
    result = nway_kshot_accuracy(emb, labels, n_way=5, k_shot=2, n_tasks=20, seed=0, n_query=2)
    assert result == {"accuracy": 1.0, "ci95": 0.0, "tasks": 20}


def test_nway_kshot_known_confusion_scores_two_thirds():
    # A = {(1,0), (1,0)}, B = {(0,1), (0,1)}, C = {(-1,0), (0.6,-0.8)}; 3-way 1-shot 1-query uses every image.
    # A and B queries find their twin at distance 0. C's query is always nearer another class:
    #   query (-1,0) with support (0.6,-0.8): 1.789 away, B's (0,1) is 1.414 away;
    #   query (0.6,-0.8) with support (-1,0): 1.789 away, A's (1,0) is 0.894 away.
    emb = np.array([[1, 0], [1, 0], [0, 1], [0, 1], [-1, 0], [0.6, -0.8]])
    result = nway_kshot_accuracy(emb, [0, 0, 1, 1, 2, 2], n_way=3, k_shot=1, n_tasks=10, seed=0)
    assert result["accuracy"] == pytest.approx(2 / 3) and result["ci95"] == pytest.approx(0.0)


def test_nway_kshot_within_group_tasks_draw_classes_of_one_group():
    # Group g1 holds A at e0 and B at e1; group g2 holds C at e0 and D at e1: a task mixing the groups can
    # pair A with its twin C and miss. Group g3 has one class (E, also at e0), too few for 2-way: skipped.
    labels = np.repeat(["A", "B", "C", "D", "E"], 3)
    groups = np.repeat(["g1", "g1", "g2", "g2", "g3"], 3)
    emb = np.eye(2)[np.repeat([0, 1, 0, 1, 0], 3)]
    within = nway_kshot_accuracy(emb, labels, n_way=2, k_shot=1, n_tasks=60, seed=0, groups=groups)
    mixed = nway_kshot_accuracy(emb, labels, n_way=2, k_shot=1, n_tasks=60, seed=0)
    assert within["accuracy"] == 1.0
    assert mixed["accuracy"] < 1.0  # the same data without groups does mix them


def test_nway_kshot_no_group_with_enough_classes_raises_value_error(clustered):
    emb, labels = clustered(4, 3)
    with pytest.raises(ValueError, match="group"):
        nway_kshot_accuracy(emb, labels, n_way=3, k_shot=1, n_tasks=5, seed=0, groups=labels % 2)


def test_nway_kshot_class_spanning_groups_raises_value_error(clustered):
    emb, labels = clustered(2, 3)
    with pytest.raises(ValueError, match="spans"):
        nway_kshot_accuracy(emb, labels, n_way=2, k_shot=1, n_tasks=5, seed=0, groups=np.arange(6) % 2)
