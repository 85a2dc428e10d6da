"""Metric losses against values worked out by hand on a few unit vectors in 2-D.

For unit vectors u, v: |u - v|^2 = 2 - 2 cos(u, v); rows like (0.6, 0.8) keep the arithmetic exact.
"""

import math

import pytest
import torch

from training.losses import LOSSES, MetricLoss, contrastive_pair_loss, make_loss


def _t(rows) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float32)


def _y(values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.int64)


def _loss(name: str, **kwargs) -> MetricLoss:
    return make_loss(name, embedding_dim=2, num_classes=2, **kwargs)


# ---- factory and common behaviour ----------------------------------------------------------------------


@pytest.mark.parametrize("name", LOSSES)
def test_make_loss_each_name_gives_finite_loss_and_gradient_on_pk_batch(name):
    torch.manual_seed(0)
    emb = torch.nn.functional.normalize(torch.randn(12, 8), dim=1).requires_grad_()
    labels = _y([0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3])
    loss_fn = make_loss(name, embedding_dim=8, num_classes=4)
    loss = loss_fn(emb, labels)
    loss.backward()
    assert loss_fn.name == name and loss_fn.config["name"] == name
    assert loss.ndim == 0 and torch.isfinite(loss) and loss.item() > 0
    assert torch.isfinite(emb.grad).all() and emb.grad.abs().sum() > 0


@pytest.mark.parametrize("name", LOSSES)
def test_make_loss_identical_embeddings_give_finite_gradients(name):
    emb = _t([[1, 0]] * 4).requires_grad_()
    loss = _loss(name)(emb, _y([0, 0, 1, 1]))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(emb.grad).all()


def test_make_loss_only_arcface_has_parameters():
    with_params = [n for n in LOSSES if list(make_loss(n, embedding_dim=4, num_classes=3).parameters())]
    assert with_params == ["arcface"]


def test_make_loss_unknown_name_raises_value_error():
    with pytest.raises(ValueError, match="unknown loss"):
        make_loss("hinge", embedding_dim=2, num_classes=2)


def test_make_loss_negative_margin_raises_value_error():
    with pytest.raises(ValueError, match="margin"):
        make_loss("triplet-batchhard", embedding_dim=2, num_classes=2, margin=-0.1)


def test_loss_forward_mismatched_labels_raises_value_error():
    with pytest.raises(ValueError, match="labels"):
        _loss("contrastive")(_t([[1, 0], [0, 1]]), _y([0, 1, 1]))


# ---- contrastive ---------------------------------------------------------------------------------------


def test_contrastive_pair_loss_matches_hand_computation():
    # pair 1 same,      d^2 = |(1,0)-(0.6,0.8)|^2 = 0.16 + 0.64 = 0.8             -> 0.8
    # pair 2 different, d = |(1,0)-(0,1)| = sqrt(2) = 1.41421 > margin 1.2        -> 0
    # pair 3 different, d = |(1,0)-(0.8,0.6)| = sqrt(0.4) = 0.63246; (1.2-0.63246)^2 = 0.32211
    a = _t([[1, 0], [1, 0], [1, 0]])
    b = _t([[0.6, 0.8], [0, 1], [0.8, 0.6]])
    loss = contrastive_pair_loss(a, b, torch.tensor([1.0, 0.0, 0.0]), margin=1.2)
    expected = (0.8 + 0.0 + (1.2 - math.sqrt(0.4)) ** 2) / 3
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_contrastive_batch_weighs_positive_and_negative_means_equally():
    # angles 0 (class 0), 60 deg (class 1), 180 deg (class 0); margin 1.5
    # positive (0, 180): d^2 = 4
    # negatives (0, 60): d = 2 sin 30 = 1 -> (1.5 - 1)^2 = 0.25;  (60, 180): d = 2 sin 60 = 1.732 -> 0
    # loss = (mean positives 4 + mean negatives 0.125) / 2 = 2.0625
    emb = _t([[1, 0], [0.5, math.sqrt(3) / 2], [-1, 0]])
    loss = _loss("contrastive", margin=1.5)(emb, _y([0, 1, 0]))
    assert loss.item() == pytest.approx(2.0625, rel=1e-5)


# ---- triplet -------------------------------------------------------------------------------------------

# a and p share class 0; n_hard, n_semi, n_easy are one class each. Distances from a = (1, 0):
#   p (0, 1): sqrt(2) = 1.41421;  n_hard (0.8, 0.6): sqrt(0.4) = 0.63246
#   n_semi (-0.28, 0.96): sqrt(2 + 0.56) = 1.6;  n_easy (-0.96, -0.28): sqrt(2 + 1.92) = 1.97990
# from p = (0, 1): n_hard sqrt(2 - 1.2) = 0.89443; n_semi sqrt(2 - 1.92) = 0.28284; n_easy sqrt(2.56) = 1.6
TRIPLET_EMB = [[1, 0], [0, 1], [0.8, 0.6], [-0.28, 0.96], [-0.96, -0.28]]
TRIPLET_LABELS = [0, 0, 1, 2, 3]


def test_semihard_triplet_picks_closest_negative_farther_than_positive():
    # margin 0.5. anchor a: negatives beyond d(a,p) = 1.41421 are n_semi 1.6 and n_easy 1.97990 -> n_semi:
    #   1.41421 - 1.6 + 0.5 = 0.31421.   anchor p: only n_easy (1.6) is beyond 1.41421 -> 0.31421 too.
    # (batch-hard would take n_hard for a: 1.28175, so the value tells the two apart.)
    loss = _loss("triplet-semihard", margin=0.5)(_t(TRIPLET_EMB), _y(TRIPLET_LABELS))
    assert loss.item() == pytest.approx(math.sqrt(2) + 0.5 - 1.6, rel=1e-5)


def test_semihard_triplet_without_farther_negative_uses_farthest_negative():
    # a (1,0) and p (-1,0): d = 2, no negative can be farther. Negatives (0,1) and (0.6,0.8) are at
    # sqrt(2) = 1.41421 and sqrt(0.8) = 0.89443 from a, and sqrt(2) and sqrt(3.2) = 1.78885 from p.
    # anchor a takes the farthest, 1.41421: 2 - 1.41421 + 0.2 = 0.78579
    # anchor p takes the farthest, 1.78885: 2 - 1.78885 + 0.2 = 0.41115;  mean = 0.59847
    emb = _t([[1, 0], [-1, 0], [0, 1], [0.6, 0.8]])
    loss = _loss("triplet-semihard", margin=0.2)(emb, _y([0, 0, 1, 1]))
    # anchors (0,1) and (0.6,0.8) of class 1: d = 0.63246 to each other; from (0,1) the negatives are at
    # 1.41421 and 1.41421 -> 0.63246 - 1.41421 + 0.2 < 0; from (0.6,0.8): 0.89443 -> < 0.  Both 0.
    expected = ((2 - math.sqrt(2) + 0.2) + (2 - math.sqrt(3.2) + 0.2) + 0 + 0) / 4
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_batchhard_triplet_picks_hardest_positive_and_negative_per_anchor():
    # class 0: a (1,0), p (0,1), q (0.8,0.6); class 1: n (-0.6,0.8). margin 0.5.
    # d(a,p) = 1.41421, d(a,q) = 0.63246, d(p,q) = 0.89443
    # d(a,n) = 1.78885, d(p,n) = 0.63246, d(q,n) = 1.41421
    # a: farthest positive p, closest negative n: 1.41421 - 1.78885 + 0.5 = 0.12536
    # p: farthest positive a, n:                  1.41421 - 0.63246 + 0.5 = 1.28175
    # q: farthest positive p, n:                  0.89443 - 1.41421 + 0.5 = -0.01978 -> 0
    # n has no positive. Mean over the 3 anchors = 0.46904
    emb = _t([[1, 0], [0, 1], [0.8, 0.6], [-0.6, 0.8]])
    loss = _loss("triplet-batchhard", margin=0.5)(emb, _y([0, 0, 0, 1]))
    expected = ((math.sqrt(2) - math.sqrt(3.2) + 0.5) + (math.sqrt(2) - math.sqrt(0.4) + 0.5)) / 3
    assert loss.item() == pytest.approx(expected, rel=1e-5)


# ---- multi-similarity ----------------------------------------------------------------------------------


def test_multi_similarity_separated_beyond_margin_is_zero():
    # cos within classes 0.8, across classes at most -0.8: no pair is within epsilon 0.1 of violating
    emb = _t([[1, 0], [0.8, 0.6], [-1, 0], [-0.8, -0.6]])
    assert _loss("multi-similarity")(emb, _y([0, 0, 1, 1])).item() == 0.0


def test_multi_similarity_matches_hand_computation():
    # a (1,0), p (0,1) class 0; n (0.6,0.8) class 1. cos: a.p = 0, a.n = 0.6, p.n = 0.8.
    # alpha 2, beta 50, base 0.5; the miner keeps a-p, a-n, p-n (all within epsilon); n has no positive.
    # a: log(1 + e^{-2(0 - 0.5)}) / 2 + log(1 + e^{50(0.6 - 0.5)}) / 50 = 0.65663 + 0.10013
    # p: log(1 + e^{1}) / 2           + log(1 + e^{50(0.8 - 0.5)}) / 50 = 0.65663 + 0.30000
    # n: 0.  Mean over the 3 anchors = 0.57113
    emb = _t([[1, 0], [0, 1], [0.6, 0.8]])
    loss = _loss("multi-similarity")(emb, _y([0, 0, 1]))
    pos = math.log(1 + math.e) / 2
    expected = (pos + math.log(1 + math.exp(5)) / 50 + pos + math.log(1 + math.exp(15)) / 50) / 3
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_multi_similarity_gradient_step_pulls_positives_together():
    emb = _t([[1, 0], [0, 1], [0.6, 0.8]]).requires_grad_()
    _loss("multi-similarity")(emb, _y([0, 0, 1])).backward()
    moved = torch.nn.functional.normalize(emb.detach() - 0.1 * emb.grad, dim=1)
    assert torch.dot(moved[0], moved[1]) > 0.0  # cos(a, p) was 0


# ---- arcface -------------------------------------------------------------------------------------------


def _arcface(margin: float = 0.5) -> MetricLoss:
    loss_fn = _loss("arcface", margin=margin, scale=4.0)
    with torch.no_grad():
        loss_fn.class_weights.copy_(torch.eye(2))  # class 0 weight (1,0), class 1 weight (0,1)
    return loss_fn


def test_arcface_matches_hand_computation():
    # scale 4, margin 0.5. e = (1,0), label 0: angle to class 0 is 0 -> target logit 4 cos(0 + 0.5) = 3.51033;
    # class 1 logit 4 cos(90 deg) = 0
    # loss = -log(e^3.51033 / (e^3.51033 + e^0)) = log(1 + e^-3.51033) = 0.02945
    loss = _arcface()(_t([[1, 0]]), _y([0]))
    assert loss.item() == pytest.approx(math.log(1 + math.exp(-4 * math.cos(0.5))), rel=1e-4)


def test_arcface_loss_decreases_as_embedding_aligns_with_its_class_weight():
    angles = [1.2, 0.8, 0.4, 0.0]  # radians from the class 0 weight
    values = [_arcface()(_t([[math.cos(a), math.sin(a)]]), _y([0])).item() for a in angles]
    assert values == sorted(values, reverse=True) and values[0] > values[-1]


def test_arcface_margin_raises_the_loss():
    emb, labels = _t([[0.8, 0.6]]), _y([0])
    assert _arcface(margin=0.5)(emb, labels).item() > _arcface(margin=0.0)(emb, labels).item()


def test_arcface_label_outside_classes_raises_value_error():
    with pytest.raises(ValueError, match="labels"):
        _arcface()(_t([[1, 0]]), _y([2]))
