"""Weight-space ensembling of a fine-tuned model with the pretrained weights it started from (WiSE-FT,
Wortsman et al., CVPR 2022): (1 - alpha) * pretrained + alpha * fine-tuned, parameter by parameter.

Fine-tuning on a few hundred identities sharpens the average case but can lose what the pretrained network
knew about the tails; the interpolation keeps much of both (the faces recipe measures it in the README).
"""

from __future__ import annotations

import torch


def interpolate(
    pretrained: dict[str, torch.Tensor], finetuned: dict[str, torch.Tensor], *, alpha: float
) -> dict[str, torch.Tensor]:
    """(1 - alpha) * pretrained + alpha * finetuned for every floating-point entry (others from finetuned);
    ValueError unless alpha is in [0, 1] and both hold the same keys and shapes."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    if pretrained.keys() != finetuned.keys():
        raise ValueError("the two state dicts hold different keys")
    out = {}
    for key, tuned in finetuned.items():
        base = pretrained[key]
        if base.shape != tuned.shape:
            raise ValueError(f"{key}: shapes {tuple(base.shape)} and {tuple(tuned.shape)} differ")
        out[key] = torch.lerp(base, tuned, alpha) if tuned.is_floating_point() else tuned.clone()
    return out


def ensemble_with_pretrained(
    model: torch.nn.Module, pretrained: torch.nn.Module, *, alpha: float
) -> torch.nn.Module:
    """`model` with its weights replaced by the interpolation (in place; returned for chaining)."""
    model.load_state_dict(interpolate(pretrained.state_dict(), model.state_dict(), alpha=alpha))
    return model
