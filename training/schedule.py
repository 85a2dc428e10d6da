"""Pure helpers for the training loop: the learning-rate schedule and the early-stopping rule."""

from __future__ import annotations

import math


def get_lr(step: int, *, base_lr: float, min_lr: float, warmup_steps: int, total_steps: int) -> float:
    """Linear warm-up from ~0 to `base_lr`, then cosine decay to `min_lr` at `total_steps`."""
    if warmup_steps > 0 and step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    return min_lr + 0.5 * (base_lr - min_lr) * (1.0 + math.cos(math.pi * progress))


def should_stop(history: list[float], *, patience: int) -> bool:
    """True when the best value is more than `patience` evaluations old (higher is better)."""
    if patience <= 0 or len(history) <= patience:
        return False
    best_at = max(range(len(history)), key=lambda i: (history[i], -i))
    return len(history) - 1 - best_at >= patience
