"""Fine-tuning a pretrained trunk without losing what it knows: a warm-up with the trunk frozen (only the head
and the loss learn), then the whole net with the trunk's learning rate a fraction of the head's.
"""

from __future__ import annotations

from typing import Any

from torch import nn


def trunk_trainable(epoch: int, *, freeze_epochs: int) -> bool:
    """False during the first `freeze_epochs` epochs (0-based `epoch`), True after."""
    return epoch >= freeze_epochs


def set_trunk_trainable(model: nn.Module, trainable: bool) -> None:
    """Freeze or unfreeze `model.trunk`: a frozen trunk gets no gradient and keeps its batch-norm statistics
    (eval mode; call after `model.train()`)."""
    for p in model.trunk.parameters():
        p.requires_grad_(trainable)
    if not trainable:
        model.trunk.eval()


def param_groups(model: nn.Module, extra: nn.Module, *, trunk_lr_mult: float) -> list[dict[str, Any]]:
    """Optimizer groups: the trunk at `trunk_lr_mult` x the base rate, the rest of `model` and `extra` (the
    loss's own parameters) at 1 x. Each group's "lr_mult" scales the scheduled rate (`scaled_lrs`)."""
    if trunk_lr_mult <= 0:
        raise ValueError(f"optim.trunk_lr_mult must be > 0, got {trunk_lr_mult}")
    trunk = list(model.trunk.parameters())
    ids = {id(p) for p in trunk}
    rest = [p for p in model.parameters() if id(p) not in ids] + list(extra.parameters())
    return [
        {"params": trunk, "lr_mult": trunk_lr_mult, "name": "trunk"},
        {"params": rest, "lr_mult": 1.0, "name": "head"},
    ]


def scaled_lrs(lr: float, groups: list[dict[str, Any]]) -> list[float]:
    """Each group's learning rate: the scheduled `lr` times its "lr_mult" (1 when it has none)."""
    return [lr * float(g.get("lr_mult", 1.0)) for g in groups]
