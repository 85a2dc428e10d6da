"""Weight-space ensembling of a fine-tuned model with the pretrained weights it started from (WiSE-FT,
Wortsman et al., CVPR 2022): (1 - alpha) * pretrained + alpha * fine-tuned, parameter by parameter.

Fine-tuning on a few hundred identities sharpens the average case but can lose what the pretrained network
knew about the tails; the interpolation keeps much of both (the faces recipe measures it in the README).
Only the entries the pretrained weights set are interpolated (`pretrained_entries`): a projection head that
started random keeps its fine-tuned weights. Batch-norm running statistics can be interpolated like the
rest, kept as fine-tuned, or re-estimated on images after the interpolation (`optim.wise_batchnorm`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable

import torch
from torch import nn
from torch.optim.swa_utils import update_bn


def interpolate(
    pretrained: dict[str, torch.Tensor],
    finetuned: dict[str, torch.Tensor],
    *,
    alpha: float,
    keys: Collection[str] | None = None,
) -> dict[str, torch.Tensor]:
    """(1 - alpha) * pretrained + alpha * finetuned for every floating-point entry in `keys` (default: all);
    the others from finetuned. ValueError unless alpha is in [0, 1], both hold the same keys and shapes, and
    `keys` names entries they hold."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    if pretrained.keys() != finetuned.keys():
        raise ValueError("the two state dicts hold different keys")
    mixed = set(finetuned) if keys is None else set(keys)
    if mixed - finetuned.keys():
        raise ValueError(f"entries to interpolate that neither holds: {sorted(mixed - finetuned.keys())[:5]}")
    out = {}
    for key, tuned in finetuned.items():
        base = pretrained[key]
        if base.shape != tuned.shape:
            raise ValueError(f"{key}: shapes {tuple(base.shape)} and {tuple(tuned.shape)} differ")
        blend = key in mixed and tuned.is_floating_point()
        out[key] = torch.lerp(base, tuned, alpha) if blend else tuned.clone()
    return out


def ensemble_with_pretrained(
    model: nn.Module, pretrained: nn.Module, *, alpha: float, keys: Collection[str] | None = None
) -> nn.Module:
    """`model` with its weights replaced by the interpolation of `keys` (default: every entry; in place,
    returned for chaining)."""
    model.load_state_dict(interpolate(pretrained.state_dict(), model.state_dict(), alpha=alpha, keys=keys))
    return model


def pretrained_entries(model: nn.Module, load: Callable[[nn.Module], object]) -> set[str]:
    """The state-dict entries of `model` that `load` (a pretrained loader) sets: every floating entry is filled
    with NaN first, and those no longer NaN after the load came from the weights. `model` is overwritten."""
    with torch.no_grad():
        for value in model.state_dict().values():
            if value.is_floating_point():
                value.fill_(float("nan"))
    load(model)
    return {k for k, v in model.state_dict().items() if v.is_floating_point() and not torch.isnan(v).any()}


def batchnorm_statistics(model: nn.Module) -> set[str]:
    """The state-dict keys of every batch-norm layer's running statistics (mean, variance, batches seen)."""
    return {
        f"{name}.{buffer}" if name else buffer
        for name, module in model.named_modules()
        if isinstance(module, nn.modules.batchnorm._BatchNorm)
        for buffer, value in module.named_buffers(recurse=False)
        if value is not None
    }


def recompute_batchnorm(model: nn.Module, batches: Iterable[torch.Tensor]) -> nn.Module:
    """Every batch-norm layer's running statistics re-estimated as the plain average over `batches` (torch's
    `update_bn`, no gradient); `model` is left in eval mode and returned."""
    update_bn(batches, model)
    return model.eval()
