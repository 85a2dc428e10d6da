"""Model selection: embedding a dataset with a model, and the validation figure that picks the best epoch."""

from __future__ import annotations

import numpy as np
import torch

from training.config import EvalConfig
from training.data.dataset import ImageDataset
from training.metrics import (
    kshot_top1,
    nway_kshot_accuracy,
    pairwise_l2,
    roc_auc,
    sample_verification_pairs,
)
from training.metrics.macro import macro, pooled_kshot_by_class


@torch.no_grad()
def embed(
    model: torch.nn.Module, ds: ImageDataset, *, device: torch.device | str = "cpu", batch_size: int = 256
) -> np.ndarray:
    """Embed every item of a (non-augmented) dataset, in order."""
    was_training = model.training
    model.eval()
    out = []
    for start in range(0, len(ds), batch_size):
        x = torch.stack([ds[i][0] for i in range(start, min(len(ds), start + batch_size))])
        out.append(model(x.to(device)).float().cpu().numpy())
    model.train(was_training)
    return np.concatenate(out) if out else np.zeros((0, 1), dtype=np.float32)


def group_array(ds: ImageDataset) -> np.ndarray:
    return np.asarray([r.group for r in ds.records])


def reference_top1(
    ref_emb: np.ndarray, ref_labels: np.ndarray, probe_emb: np.ndarray, probe_labels: np.ndarray
) -> float:
    """Top-1 accuracy of nearest-reference identification of probes against a reference set."""
    if len(probe_emb) == 0:
        return float("nan")
    nearest = pairwise_l2(probe_emb, ref_emb).argmin(axis=1)
    return float(np.mean(ref_labels[nearest] == probe_labels))


def kshot_from_references(ref_emb, ref_labels, probe_emb, probe_labels, *, k: int, seed: int) -> float:
    """k references per class drawn from a reference pool; probes of classes without references are skipped."""
    rng = np.random.default_rng(seed)
    chosen = []
    for label in np.unique(ref_labels):
        idx = np.flatnonzero(ref_labels == label)
        chosen.extend(rng.choice(idx, size=min(k, len(idx)), replace=False))
    chosen = np.asarray(chosen, dtype=int)
    keep = np.isin(probe_labels, ref_labels[chosen])
    return reference_top1(ref_emb[chosen], ref_labels[chosen], probe_emb[keep], probe_labels[keep])


def pair_norms(emb: np.ndarray, i: np.ndarray, j: np.ndarray, *, chunk: int = 256) -> np.ndarray:
    """|emb[i] - emb[j]| per pair, `chunk` pairs at a time: pixel vectors of 256-px images are 196,608 wide,
    and 6,000 pairs of them at once would take tens of GB."""
    return np.concatenate(
        [
            np.linalg.norm(emb[i[s : s + chunk]] - emb[j[s : s + chunk]], axis=1)
            for s in range(0, len(i), chunk)
        ]
        + [np.zeros(0, dtype=emb.dtype)]
    )


def pair_distances(
    emb: np.ndarray, labels: np.ndarray, *, n_pairs: int, seed: int, groups: np.ndarray | None = None
):
    """Distances of balanced genuine/impostor pairs; with `groups`, both images of every pair come from one
    group (pairs shared out by group size), so impostors are as hard as one source set makes them."""
    if groups is None:
        i, j, same = sample_verification_pairs(labels, n_pairs=n_pairs, seed=seed)
        return pair_norms(emb, np.asarray(i), np.asarray(j)), np.asarray(same, dtype=bool)
    parts = []
    for n, group in enumerate(sorted(set(groups))):
        sel = np.flatnonzero(groups == group)
        if len(np.unique(labels[sel])) >= 2:
            share = max(2, int(round(n_pairs * len(sel) / len(groups))) // 2 * 2)
            parts.append(pair_distances(emb[sel], labels[sel], n_pairs=share, seed=seed + n))
    if not parts:
        raise ValueError("no group has two classes to pair")
    return np.concatenate([d for d, _ in parts]), np.concatenate([s for _, s in parts])


def selection_metric(
    model: torch.nn.Module,
    val_ds: ImageDataset,
    cfg: EvalConfig,
    *,
    device: torch.device | str,
    ref_ds: ImageDataset | None = None,
) -> float:
    """The validation figure that picks the best epoch (higher is better)."""
    emb = embed(model, val_ds, device=device)
    labels = np.asarray(val_ds.labels)
    if cfg.select == "nway":
        groups = group_array(val_ds) if cfg.within_group else None
        return nway_kshot_accuracy(
            emb, labels, n_way=cfg.n_way, k_shot=cfg.k_shot, n_tasks=cfg.n_tasks, seed=cfg.seed, groups=groups
        )["accuracy"]
    if cfg.select == "verification_auc":
        groups = group_array(val_ds) if cfg.pairs_within_group else None
        d, same = pair_distances(emb, labels, n_pairs=cfg.n_pairs, seed=cfg.seed, groups=groups)
        return roc_auc(d, same)
    if cfg.select == "kshot_macro":
        if ref_ds is None:
            raise ValueError("kshot_macro selection needs an image split (training images as references)")
        return macro(_pooled_by_class(model, ref_ds, val_ds, emb, cfg, device=device))
    if cfg.select == "kshot_top1":
        if ref_ds is not None:
            ref_emb = embed(model, ref_ds, device=device)
            ref_labels = np.asarray([ref_ds.classes[y] for y in ref_ds.labels])
            probe_labels = np.asarray([val_ds.classes[y] for y in val_ds.labels])
            return kshot_from_references(ref_emb, ref_labels, emb, probe_labels, k=cfg.kshot, seed=cfg.seed)
        return kshot_top1(emb, labels, k=cfg.kshot, seed=cfg.seed)
    raise ValueError(
        f"unknown selection metric {cfg.select!r}; choose nway, kshot_top1, kshot_macro or verification_auc"
    )


SELECT_ROUNDS = 5  # enrolments averaged in the kshot_macro selection figure (small classes are noisy)


def _pooled_by_class(
    model, ref_ds: ImageDataset, val_ds: ImageDataset, emb: np.ndarray, cfg: EvalConfig, *, device
):
    """Per validation class, k-shot top-1 against k training references of every trained class (novel classes
    enrolled from k of their own validation images)."""
    ref_emb = embed(model, ref_ds, device=device)
    ref_labels = np.asarray([ref_ds.classes[y] for y in ref_ds.labels])
    probe_labels = np.asarray([val_ds.classes[y] for y in val_ds.labels])
    return pooled_kshot_by_class(
        ref_emb, ref_labels, emb, probe_labels, k=cfg.kshot, seed=cfg.seed, n_rounds=SELECT_ROUNDS
    )
