"""Held-out evaluation: tune the threshold on validation identities, then measure everything on the test split.

Returns plain dicts (figures for the card) plus the raw distances the report plots.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from modelcard.identification import Identification, IdentificationRow
from training.config import EvalConfig, TrainConfig
from training.data.dataset import ImageDataset
from training.data.splits import Split
from training.metrics import (
    equal_error_rate,
    kshot_top1,
    nway_kshot_accuracy,
    open_set_identification,
    roc_auc,
    tar_at_far,
    verification_accuracy,
)
from training.metrics.baseline import pixel_embeddings
from training.metrics.distances import class_members
from training.metrics.galleries import balanced_fpir, figures_at, identification_thresholds
from training.metrics.identification import enroll
from training.metrics.macro import (
    confusion_counts,
    macro_micro,
    pooled_kshot_hits,
    pooled_kshot_predictions,
)
from training.metrics.threshold import tune_threshold
from training.selection import embed, group_array, kshot_from_references, pair_distances

ROUNDS = 5  # random enrolments averaged in every k-shot top-1 figure (one draw of k references is noisy)


@dataclass
class Evaluation:
    threshold: dict[str, Any]
    metrics: dict[str, Any]
    baseline: dict[str, Any]
    test_distances: np.ndarray = field(repr=False)
    test_same: np.ndarray = field(repr=False)
    test_embeddings: np.ndarray = field(repr=False)
    test_labels: np.ndarray = field(repr=False)
    identification: Identification | None = field(default=None, repr=False)
    # image splits, per source set: (classes, counts) of the k-shot answers, novel classes included
    confusions: dict[str, tuple[list[str], np.ndarray]] = field(default_factory=dict, repr=False)


def verification_figures(d: np.ndarray, same: np.ndarray, *, threshold: float) -> dict[str, float]:
    eer, eer_t = equal_error_rate(d, same)
    tar2, _ = tar_at_far(d, same, far=1e-2)
    tar3, _ = tar_at_far(d, same, far=1e-3)
    accept = d <= threshold
    return {
        "pairs": int(len(d)),
        "roc_auc": roc_auc(d, same),
        "eer": eer,
        "tar_at_far_1e-2": tar2,
        "tar_at_far_1e-3": tar3,
        "accuracy_at_threshold": verification_accuracy(d, same, threshold=threshold),
        "far_at_threshold": float(np.mean(accept[~same])) if (~same).any() else float("nan"),
        "tar_at_threshold": float(np.mean(accept[same])) if same.any() else float("nan"),
    }


def identification_figures(
    emb: np.ndarray,
    labels: np.ndarray,
    groups: np.ndarray | None,
    cfg: TrainConfig,
    *,
    threshold: float | None,
) -> dict[str, Any]:
    e = cfg.eval
    out: dict[str, Any] = {}
    tasks = [(e.n_way, e.k_shot)] + ([(5, 1)] if (e.n_way, e.k_shot) != (5, 1) else [])
    for n_way, k_shot in tasks:
        if len(np.unique(labels)) >= n_way:
            key = f"{n_way}way_{k_shot}shot" + ("_within_group" if e.within_group else "")
            out[key] = nway_kshot_accuracy(
                emb,
                labels,
                n_way=n_way,
                k_shot=k_shot,
                n_tasks=e.n_tasks,
                seed=e.seed,
                groups=groups if e.within_group else None,
            )
    for k in sorted({1, e.kshot}):
        out[f"top1_{k}shot"] = kshot_top1(emb, labels, k=k, seed=e.seed, n_rounds=ROUNDS)
    if threshold is not None:
        out["open_set"] = open_set_identification(emb, labels, k=e.kshot, threshold=threshold, seed=e.seed)
    return out


def evaluate(
    model: torch.nn.Module,
    split: Split,
    cfg: TrainConfig,
    *,
    device: torch.device | str,
    spec,
    fixed_threshold: float | None = None,
) -> Evaluation:
    """Tune the threshold on `split.val` (unless `fixed_threshold` is given), then measure on `split.test`."""
    e = cfg.eval
    val_ds, test_ds = ImageDataset(split.val, spec), ImageDataset(split.test, spec)
    val_emb = embed(model, val_ds, device=device)
    val_groups = group_array(val_ds) if e.pairs_within_group else None
    vd, vsame = pair_distances(
        val_emb, np.asarray(val_ds.labels), n_pairs=e.n_pairs, seed=e.seed, groups=val_groups
    )
    threshold = tune_threshold(vd, vsame, target_far=e.target_far)
    if fixed_threshold is not None:
        threshold = {**threshold, "value": float(fixed_threshold), "method": "fixed (model card)"}
    val_labels = np.asarray([val_ds.classes[y] for y in val_ds.labels])

    emb = embed(model, test_ds, device=device)
    labels = np.asarray([test_ds.classes[y] for y in test_ds.labels])
    groups = group_array(test_ds)
    pair_groups = groups if e.pairs_within_group else None
    d, same = pair_distances(emb, labels, n_pairs=e.n_pairs, seed=e.seed + 1, groups=pair_groups)
    metrics = {
        "verification": verification_figures(d, same, threshold=threshold["value"]),
        **identification_figures(emb, labels, groups, cfg, threshold=threshold["value"]),
    }
    for group in sorted(set(groups)) if len(set(groups)) > 1 and cfg.data.split != "group" else []:
        sel = groups == group
        if len(np.unique(labels[sel])) >= 2:
            gd, gsame = pair_distances(emb[sel], labels[sel], n_pairs=min(e.n_pairs, 4000), seed=e.seed + 2)
            metrics.setdefault("by_group", {})[group] = {
                "verification": verification_figures(gd, gsame, threshold=threshold["value"]),
                f"top1_{e.kshot}shot": kshot_top1(
                    emb[sel], labels[sel], k=e.kshot, seed=e.seed, n_rounds=ROUNDS
                ),
            }
    identification = identification_table(val_emb, val_labels, emb, labels, e)
    if identification is not None and cfg.data.split == "image":
        identification = dataclasses.replace(
            identification,
            method=identification.method + IMAGE_SPLIT_NOTE,
        )
    if cfg.data.split == "image":
        known = np.isin(labels, [r.label for r in split.train])
        metrics.update(known_classes_figures(emb, labels, known, cfg))
        figures, confusions = _train_reference_figures(
            model, split, cfg, spec, emb, labels, known, device=device
        )
        metrics.update(figures)

    pixels = dataset_pixel_embeddings(test_ds)
    pd_, psame = pair_distances(pixels, labels, n_pairs=e.n_pairs, seed=e.seed + 1, groups=pair_groups)
    baseline = {
        "verification": verification_figures(pd_, psame, threshold=float(np.median(pd_))),
        **identification_figures(pixels, labels, groups, cfg, threshold=None),
    }
    if cfg.data.split == "image":
        baseline.update(known_classes_figures(pixels, labels, known, cfg))
    return Evaluation(
        threshold=threshold,
        metrics=metrics,
        baseline=baseline,
        test_distances=d,
        test_same=same,
        test_embeddings=emb,
        test_labels=labels,
        identification=identification,
        confusions=confusions if cfg.data.split == "image" else {},
    )


def dataset_pixel_embeddings(ds: ImageDataset, *, chunk: int = 256) -> np.ndarray:
    """`pixel_embeddings` of every item of `ds`, `chunk` items at a time: the float32 inputs of the whole
    split are never held beside their embeddings."""
    parts = [
        pixel_embeddings(ds.stack(range(s, min(s + chunk, len(ds)))).numpy())
        for s in range(0, len(ds), chunk)
    ]
    return np.concatenate(parts)


IMAGE_SPLIT_NOTE = (
    "; image split: the identities are classes training saw (and its held-out novel ones), their validation "
    "images only, so a stranger here is a class left out of the gallery, not a type never seen"
)

STATISTIC_TEXT = {
    "nearest": "nearest reference",
    "centroid": "distance to the unit mean of the identity's references",
}


def identification_table(
    val_emb: np.ndarray, val_labels: np.ndarray, emb: np.ndarray, labels: np.ndarray, e: EvalConfig
) -> Identification | None:
    """identify's thresholds by gallery size, tuned on validation galleries, with the test split's FPIR and
    FNIR at each (None when no gallery can be measured: fewer than 2 validation classes, or too few with more
    images than any k)."""
    rows = identification_thresholds(
        val_emb,
        val_labels,
        sizes=e.gallery_sizes,
        ks=e.gallery_ks,
        fpirs=tuple(sorted({*e.fpirs} | ({e.target_fpir} if e.target_fpir is not None else set()))),
        rounds=e.gallery_rounds,
        seed=e.seed,
        statistic=e.identify_statistic,
    )
    if not rows:
        return None
    test = figures_at(
        emb, labels, table=rows, rounds=e.gallery_rounds, seed=e.seed + 1, statistic=e.identify_statistic
    )
    target = e.target_fpir if e.target_fpir is not None else balanced_fpir(rows, k=max(r["k"] for r in rows))
    chosen = "set" if e.target_fpir is not None else "the best balanced open-set accuracy on validation"
    method = (
        f"{STATISTIC_TEXT[e.identify_statistic]}; validation galleries of G identities x k references ({e.gallery_rounds} per G, k), "
        "every image of every other class a non-mated probe, each class weighing the same in the FPIR; per FPIR, "
        f"the largest threshold whose FPIR is at most it (default {target:g}: {chosen}); interpolated in log G, beyond the largest G the "
        "least-squares line in log G, never looser than the largest G's"
    )
    return Identification(
        target_fpir=target,
        rows=tuple(IdentificationRow(**r) for r in rows),
        statistic=e.identify_statistic,
        method=method,
        test=tuple(test),
    )


def known_classes_figures(emb: np.ndarray, labels: np.ndarray, known: np.ndarray, cfg: TrainConfig) -> dict:
    """k-shot top-1 over the test images of the classes training saw, each enrolled from k of its own held-out
    images: what a user of the model's own classes gets (top1_{k}shot also counts novel classes)."""
    k = cfg.eval.kshot
    _, counts = np.unique(labels[known], return_counts=True)
    if np.sum(counts > k) < 2:
        return {}
    return {
        f"top1_{k}shot_known_classes": kshot_top1(
            emb[known], labels[known], k=k, seed=cfg.eval.seed, n_rounds=ROUNDS
        )
    }


def group_array_of(records) -> np.ndarray:
    return np.asarray([r.group for r in records])


def per_set_figures(
    ref_emb: np.ndarray,
    ref_labels: np.ndarray,
    ref_groups: np.ndarray,
    emb: np.ndarray,
    labels: np.ndarray,
    groups: np.ndarray,
    *,
    k: int,
    seed: int,
) -> dict[str, dict[str, Any]]:
    """The figures of `per_set_results`."""
    return per_set_results(ref_emb, ref_labels, ref_groups, emb, labels, groups, k=k, seed=seed)[0]


def per_set_results(
    ref_emb: np.ndarray,
    ref_labels: np.ndarray,
    ref_groups: np.ndarray,
    emb: np.ndarray,
    labels: np.ndarray,
    groups: np.ndarray,
    *,
    k: int,
    seed: int,
) -> tuple[dict[str, dict[str, Any]], dict[str, tuple[list[str], np.ndarray]]]:
    """Per source set, macro (per-class mean) and micro k-shot top-1 over ROUNDS enrolments, each set searched
    on its own: its test images of trained classes against k training references per class
    (top1_{k}shot_train_refs); with its novel classes among them, each enrolled from k of its own test images
    (top1_{k}shot_with_novel); and those novel classes alone (novel_classes_top1_{k}shot). Beside them, the
    confusion counts of the answers behind top1_{k}shot_with_novel."""
    figures: dict[str, dict[str, Any]] = {}
    confusions: dict[str, tuple[list[str], np.ndarray]] = {}
    for group in sorted(set(groups.tolist())):
        r, t = ref_groups == group, groups == group
        trained = t & np.isin(labels, ref_labels[r])
        pool = (ref_emb[r], ref_labels[r])
        known = pooled_kshot_hits(*pool, emb[trained], labels[trained], k=k, seed=seed, n_rounds=ROUNDS)
        answers = pooled_kshot_predictions(*pool, emb[t], labels[t], k=k, seed=seed, n_rounds=ROUNDS)
        every = {c: np.asarray(p) == c for c, p in answers.items()}
        novel = {c: h for c, h in every.items() if c not in set(ref_labels[r].tolist())}
        figures[group] = {
            f"top1_{k}shot_train_refs": macro_micro(known, rounds=ROUNDS),
            f"top1_{k}shot_with_novel": macro_micro(every, rounds=ROUNDS),
            **({f"novel_classes_top1_{k}shot": macro_micro(novel, rounds=ROUNDS)} if novel else {}),
        }
        confusions[group] = confusion_counts(answers)
    return figures, confusions


def _train_reference_figures(
    model, split: Split, cfg: TrainConfig, spec, emb, labels, known: np.ndarray, *, device
) -> tuple[dict, dict[str, tuple[list[str], np.ndarray]]]:
    """Image splits: enroll k training images per class, identify held-out test images of those classes
    (`known` marks them; the other test images are of novel classes). Returns the figures and the per-set
    confusion counts."""
    ref_ds = ImageDataset(split.train, spec)
    ref_emb = embed(model, ref_ds, device=device)
    ref_labels = np.asarray([ref_ds.classes[y] for y in ref_ds.labels])
    k, seed = cfg.eval.kshot, cfg.eval.seed
    by_set, confusions = per_set_results(
        ref_emb, ref_labels, group_array(ref_ds), emb, labels, group_array_of(split.test), k=k, seed=seed
    )
    out: dict[str, Any] = {
        f"top1_{k}shot_train_refs": kshot_from_references(ref_emb, ref_labels, emb, labels, k=k, seed=seed),
        "by_set": by_set,
    }
    novel = {label: idx for label, idx in class_members(labels).items() if not known[idx[0]]}
    if max((len(idx) for idx in novel.values()), default=0) > k:
        # Novel classes (any with a probe left after enrolling k): enrolled from k of their own test images,
        # searched among k training references of every known class; the mean over ROUNDS enrolments.
        rng = np.random.default_rng(seed)
        rounds = []
        for n in range(ROUNDS):
            refs, probes = enroll(novel, rng, k)
            rounds.append(
                kshot_from_references(
                    np.concatenate([ref_emb, emb[refs]]),
                    np.concatenate([ref_labels, labels[refs]]),
                    emb[probes],
                    labels[probes],
                    k=k,
                    seed=seed + n,
                )
            )
        out[f"novel_classes_top1_{k}shot"] = float(np.mean(rounds))
        out["novel_classes"] = sorted(novel)
    return out, confusions
