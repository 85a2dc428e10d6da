"""The training loop: seed -> data -> model -> optimizer -> loop (lr, step, validate, checkpoint, log, stop).

Run it through the CLI: `python -m training train --recipe omniglot` (see `python -m training train --help`).
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from modelcard import AlignSpec, InputSpec
from training.card import device_description
from training.config import POOLED_ENCODERS, TrainConfig, check, from_dict
from training.data.dataset import ImageDataset
from training.data.records import with_rotated_classes
from training.data.samplers import BalancedPairSampler, PKSampler
from training.data.splits import Split
from training.encoders import build_encoder
from training.encoders.base import average_projection_on_grid
from training.encoders.pretrained import DLIB_LANDMARKS, check_pretrained_input, load_pretrained_trunk
from training.finetune import param_groups, scaled_lrs, set_trunk_trainable, trunk_trainable
from training.losses import contrastive_pair_loss, make_loss
from training.recipes import load_records, make_split
from training.schedule import get_lr, should_stop
from training.selection import selection_metric


@dataclass
class TrainResult:
    model: torch.nn.Module
    split: Split
    classes: list[str]
    history: list[dict[str, Any]] = field(default_factory=list)
    best_metric: float = float("-inf")
    seconds: float = 0.0
    device: str = "cpu"
    checkpoint: Path | None = None


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but torch sees no CUDA device")
    return torch.device(name)


def input_spec(cfg: TrainConfig) -> InputSpec:
    i = cfg.input
    align = None
    if i.align is not None:
        landmarks = f"{cfg.name}.landmarks.dat"
        align = AlignSpec(
            kind=i.align, chip=i.height, landmarks=landmarks, landmarks_sha256=DLIB_LANDMARKS.sha256
        )
    return InputSpec(
        height=i.height,
        width=i.width,
        channels=i.channels,
        mean=tuple(i.mean),
        std=tuple(i.std),
        resize=i.resize,
        invert=i.invert,
        align=align,
        brighten=i.brighten,
    )


def encoder_options(cfg: TrainConfig) -> dict[str, Any]:
    """The configured encoder's own keyword arguments."""
    options: dict[str, Any] = {"pool": cfg.model.pool} if cfg.model.encoder in POOLED_ENCODERS else {}
    return options | {
        "resnet-small": {"base_width": cfg.model.base_width, "stem_stride": cfg.model.stem_stride or None},
        "koch": {"width_mult": cfg.model.width_mult},
    }.get(cfg.model.encoder, {})


def build_model(cfg: TrainConfig) -> torch.nn.Module:
    """The configured encoder; with `model.pretrained`, its trunk holds those weights (checked by sha256)."""
    if cfg.model.pretrained:
        check_pretrained_input(
            encoder=cfg.model.encoder,
            name=cfg.model.pretrained,
            channels=cfg.input.channels,
            mean=cfg.input.mean,
            std=cfg.input.std,
        )
    model = build_encoder(
        cfg.model.encoder,
        in_channels=cfg.input.channels,
        height=cfg.input.height,
        width=cfg.input.width,
        embedding_dim=cfg.model.embedding_dim,
        **encoder_options(cfg),
    )
    if cfg.model.pretrained:
        load_pretrained_trunk(model, encoder=cfg.model.encoder, name=cfg.model.pretrained)
    return model


def planned_epochs(cfg: TrainConfig, *, epoch_seconds: float) -> int:
    """Epochs that fit the time budget at the measured pace (the cosine schedule ends there), capped by epochs."""
    budget = cfg.optim.time_budget_min
    if budget is None or epoch_seconds <= 0:
        return cfg.optim.epochs
    return max(1, min(cfg.optim.epochs, int(budget * 60 / epoch_seconds)))


def stop_reason(cfg: TrainConfig, *, epochs_run: int) -> str:
    """Why training ends after `epochs_run` planned epochs: all the configured epochs ran, or the time budget
    left room for no more."""
    if epochs_run >= cfg.optim.epochs or cfg.optim.time_budget_min is None:
        return f"done after {epochs_run} of {cfg.optim.epochs} epochs"
    return (
        f"stopping after {epochs_run} of {cfg.optim.epochs} epochs: the time budget "
        f"({cfg.optim.time_budget_min:g} min) leaves no room for more"
    )


def save_checkpoint(path: Path, **state: Any) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load a checkpoint (tensors and plain data only) and its config."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    state["config"] = from_dict(json.loads(state["config_json"]))
    return state


def warm_start(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Load a checkpoint's weights into `model` key for key. Two differences are allowed, both from an
    average-pooled checkpoint: a pooling exponent it lacks (a GeM head), which keeps its initial value, and a
    grid-pooled head's projection, started as the checkpoint's own spread over the cells (so the warm-started
    grid model begins as the checkpoint's function)."""
    state = dict(state)
    for name, param in model.named_parameters():
        old = state.get(name)
        if old is not None and name.startswith("head.") and old.dim() == 2 and param.dim() == 2:
            cells, rest = divmod(param.shape[1], old.shape[1])
            if cells > 1 and rest == 0 and param.shape[0] == old.shape[0]:
                state[name] = average_projection_on_grid(old, cells)
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # a tensor of another shape
        raise ValueError(f"the checkpoint does not fit this encoder: {exc}") from exc
    new_exponents = [k for k in missing if k.startswith("head.") and k.endswith(".p")]
    if unexpected or len(new_exponents) != len(missing):
        raise ValueError(
            "the checkpoint does not fit this encoder: "
            f"missing {sorted(set(missing) - set(new_exponents))}, unexpected {sorted(unexpected)}"
        )


def model_from_checkpoint(path: Path) -> tuple[torch.nn.Module, TrainConfig, dict[str, Any]]:
    state = load_checkpoint(path)
    model = build_encoder(**json.loads(state["model_config_json"]))
    model.load_state_dict(state["model"])
    return model.eval(), state["config"], state


def _batches(cfg: TrainConfig, ds: ImageDataset, epoch: int):
    """Yield (x, labels) for P x K training, or (x_a, x_b, same) for pair training."""
    o = cfg.optim
    if o.sampler == "pairs":
        sampler = BalancedPairSampler(
            ds.labels, pairs_per_epoch=o.batches_per_epoch * o.p * o.k, seed=cfg.seed
        )
        sampler.set_epoch(epoch)
        pairs = list(sampler)
        size = o.p * o.k
        for s in range(0, len(pairs), size):
            chunk = pairs[s : s + size]
            xa = torch.stack([ds[i][0] for i, _, _ in chunk])
            xb = torch.stack([ds[j][0] for _, j, _ in chunk])
            yield xa, xb, torch.tensor([same for _, _, same in chunk], dtype=torch.float32)
        return
    groups = [r.group for r in ds.records] if o.group_batches else None
    sampler = PKSampler(
        ds.labels, p=o.p, k=o.k, batches_per_epoch=o.batches_per_epoch, seed=cfg.seed, groups=groups
    )
    sampler.set_epoch(epoch)
    for idx in sampler:
        items = [ds[i] for i in idx]
        yield torch.stack([x for x, _ in items]), torch.tensor([y for _, y in items], dtype=torch.long)


def _step_loss(model, loss_fn, batch, device, margin: float) -> torch.Tensor:
    if len(batch) == 3:
        xa, xb, same = (t.to(device) for t in batch)
        return contrastive_pair_loss(model(xa), model(xb), same, margin=margin)
    x, y = batch
    return loss_fn(model(x.to(device)), y.to(device))


def _optim_params(cfg: TrainConfig, model: torch.nn.Module, loss_fn: torch.nn.Module) -> list[Any]:
    """The optimizer's parameters: one group, or trunk and head groups when fine-tuning (training/finetune.py)."""
    if cfg.optim.freeze_epochs == 0 and cfg.optim.trunk_lr_mult == 1.0:
        return list(model.parameters()) + list(loss_fn.parameters())
    return param_groups(model, loss_fn, trunk_lr_mult=cfg.optim.trunk_lr_mult)


def train(cfg: TrainConfig, *, resume: bool = False, progress: bool = True) -> TrainResult:
    """Train an encoder as `cfg` says; return the best model (by the validation metric)."""
    check(cfg)
    seed_everything(cfg.seed)
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    device = pick_device(cfg.device)
    run_dir = Path(cfg.run_dir) / cfg.name
    run_dir.mkdir(parents=True, exist_ok=True)

    split = make_split(load_records(cfg.data), cfg.data)
    spec = input_spec(cfg)
    train_records = with_rotated_classes(split.train) if cfg.data.rotated_classes else split.train
    train_ds = ImageDataset(train_records, spec, augment=cfg.augment, seed=cfg.seed)
    val_ds = ImageDataset(split.val, spec)
    ref_ds = ImageDataset(split.train, spec, classes=train_ds.classes) if cfg.data.split == "image" else None

    model = build_model(cfg)
    if cfg.init_from:
        warm_start(model, load_checkpoint(Path(cfg.init_from))["model"])
        print(f"{cfg.name}: encoder initialised from {cfg.init_from}")
    model = model.to(device)
    loss_fn = make_loss(
        cfg.optim.loss,
        embedding_dim=cfg.model.embedding_dim,
        num_classes=len(train_ds.classes),
        margin=cfg.optim.margin,
    ).to(device)
    optimizer = torch.optim.AdamW(
        _optim_params(cfg, model, loss_fn), lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay
    )
    steps_per_epoch = cfg.optim.batches_per_epoch
    total_steps = cfg.optim.epochs * steps_per_epoch
    warmup = cfg.optim.warmup_epochs * steps_per_epoch
    margin = cfg.optim.margin if cfg.optim.margin is not None else 1.0

    result = TrainResult(model=model, split=split, classes=train_ds.classes, device=str(device))
    start_epoch, elapsed_before = 0, 0.0
    last_path, best_path = run_dir / "last.pt", run_dir / "best.pt"
    if resume and last_path.exists():
        state = load_checkpoint(last_path)
        model.load_state_dict(state["model"])
        loss_fn.load_state_dict(state["loss"])
        optimizer.load_state_dict(state["optimizer"])
        start_epoch = int(state["epoch"]) + 1
        result.history = json.loads(state["history_json"])
        result.best_metric = float(state["best_metric"])
        elapsed_before = float(state["seconds"])
        print(f"resumed {cfg.name} from {last_path} at epoch {start_epoch}")

    started = time.monotonic() - elapsed_before
    for epoch in range(start_epoch, cfg.optim.epochs):
        model.train()
        if cfg.optim.freeze_epochs > 0:
            set_trunk_trainable(model, trunk_trainable(epoch, freeze_epochs=cfg.optim.freeze_epochs))
        train_ds.set_epoch(epoch)
        losses: list[float] = []
        bar = tqdm(
            _batches(cfg, train_ds, epoch),
            total=steps_per_epoch,
            disable=not progress,
            desc=f"{cfg.name} epoch {epoch + 1}/{cfg.optim.epochs}",
            leave=False,
        )
        for i, batch in enumerate(bar):
            step = epoch * steps_per_epoch + i
            lr = get_lr(
                step,
                base_lr=cfg.optim.lr,
                min_lr=cfg.optim.min_lr,
                warmup_steps=warmup,
                total_steps=total_steps,
            )
            for group, group_lr in zip(
                optimizer.param_groups, scaled_lrs(lr, optimizer.param_groups), strict=True
            ):
                group["lr"] = group_lr
            loss = _step_loss(model, loss_fn, batch, device, margin)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.4f}", lr=f"{lr:.2e}")

        metric = selection_metric(model, val_ds, cfg.eval, device=device, ref_ds=ref_ds)
        seconds = time.monotonic() - started
        planned = planned_epochs(cfg, epoch_seconds=seconds / (epoch + 1))
        total_steps = planned * steps_per_epoch
        row = {
            "epoch": epoch + 1,
            "loss": float(np.mean(losses)) if losses else float("nan"),
            "val": metric,
            "lr": lr,
            "seconds": round(seconds, 1),
        }
        result.history.append(row)
        improved = metric > result.best_metric
        if improved:
            result.best_metric = metric
        print(
            f"{cfg.name} epoch {epoch + 1}: loss {row['loss']:.4f} val {cfg.eval.select} {metric:.4f}"
            f"{' *' if improved else ''} ({seconds / 60:.1f} min)",
            flush=True,
        )
        state = dict(
            model=model.state_dict(),
            loss=loss_fn.state_dict(),
            optimizer=optimizer.state_dict(),
            epoch=epoch,
            best_metric=result.best_metric,
            seconds=seconds,
            history_json=json.dumps(result.history),
            config_json=cfg.to_json(),
            model_config_json=json.dumps(model.config),
            classes_json=json.dumps(train_ds.classes),
            trained_on=device_description(str(device)),
        )
        save_checkpoint(last_path, **state)
        if improved:
            save_checkpoint(best_path, **state)
        if should_stop([h["val"] for h in result.history], patience=cfg.optim.patience):
            print(f"{cfg.name}: early stop after {epoch + 1} epochs (no improvement in {cfg.optim.patience})")
            break
        if epoch + 1 >= planned:
            print(f"{cfg.name}: {stop_reason(cfg, epochs_run=epoch + 1)}")
            break

    result.seconds = time.monotonic() - started
    if best_path.exists():
        best = load_checkpoint(best_path)
        model.load_state_dict(best["model"])
        # best.pt keeps the best weights and, from here on, the whole run's record, so that exporting it
        # writes the same card as this run does.
        best.pop("config")
        save_checkpoint(
            best_path, **{**best, "history_json": json.dumps(result.history), "seconds": result.seconds}
        )
        result.checkpoint = best_path
    model.eval()
    return result
