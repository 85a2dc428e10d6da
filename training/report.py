"""Write `models/<name>.report/`: loss and validation curves, ROC, distance histograms, a 2-D projection, README."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from training.metrics import roc_curve  # noqa: E402


def pca_2d(x: np.ndarray) -> np.ndarray:
    """Project rows of `x` on their first two principal components."""
    centred = x - x.mean(axis=0, keepdims=True)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:2].T


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_curves(history: list[dict[str, Any]], path: Path, *, metric_name: str) -> None:
    fig, ax = plt.subplots(figsize=(6, 4))
    epochs = [h["epoch"] for h in history]
    ax.plot(epochs, [h["loss"] for h in history], color="tab:blue", label="training loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss", color="tab:blue")
    ax2 = ax.twinx()
    ax2.plot(epochs, [h["val"] for h in history], color="tab:orange", label=f"validation {metric_name}")
    ax2.set_ylabel(f"validation {metric_name}", color="tab:orange")
    ax.set_title("training loss and validation metric")
    _save(fig, path)


def plot_roc(d: np.ndarray, same: np.ndarray, path: Path, *, auc: float) -> None:
    far, tar, _ = roc_curve(d, same)
    fig, ax = plt.subplots(figsize=(5, 4.5))
    ax.plot(far, tar, label=f"AUC {auc:.4f}")
    ax.set_xscale("log")
    ax.set_xlim(1e-4, 1)
    ax.set_xlabel("false accept rate")
    ax.set_ylabel("true accept rate")
    ax.set_title("verification ROC (test identities)")
    ax.legend(loc="lower right")
    _save(fig, path)


def plot_histograms(d: np.ndarray, same: np.ndarray, path: Path, *, threshold: float) -> None:
    fig, ax = plt.subplots(figsize=(6, 4))
    bins = np.linspace(0, 2, 81)
    ax.hist(d[same], bins=bins, alpha=0.6, density=True, label="genuine (same)")
    ax.hist(d[~same], bins=bins, alpha=0.6, density=True, label="impostor (different)")
    ax.axvline(threshold, color="k", linestyle="--", label=f"threshold {threshold:.3f}")
    ax.set_xlabel("L2 distance between normalized embeddings")
    ax.set_title("test pair distances")
    ax.legend()
    _save(fig, path)


def plot_projection(emb: np.ndarray, labels: np.ndarray, path: Path, *, max_classes: int = 20) -> None:
    classes = np.unique(labels)[:max_classes]
    keep = np.isin(labels, classes)
    xy = pca_2d(emb[keep])
    fig, ax = plt.subplots(figsize=(6, 5))
    cmap = plt.get_cmap("tab20")
    for n, c in enumerate(classes):
        sel = labels[keep] == c
        ax.scatter(xy[sel, 0], xy[sel, 1], s=8, color=cmap(n % 20), label=str(c)[:18])
    ax.set_title(f"test embeddings, PCA (first {len(classes)} classes)")
    if len(classes) <= 12:
        ax.legend(fontsize=6, markerscale=2)
    _save(fig, path)


def plot_confusion(classes: list[str], counts: np.ndarray, path: Path, *, title: str) -> None:
    """Row-normalized confusion matrix (true class per row, answer per column), each cell's count printed."""
    rows = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, rows, out=np.zeros(counts.shape, dtype=float), where=rows > 0)
    n = len(classes)
    side = max(4.0, 0.38 * n + 2.0)
    fig, ax = plt.subplots(figsize=(side + 1.0, side))
    image = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    names = [str(c).rsplit("/", 1)[-1][:16] for c in classes]
    ax.set_xticks(range(n), names, rotation=90, fontsize=7)
    ax.set_yticks(range(n), names, fontsize=7)
    ax.set_xlabel("answered")
    ax.set_ylabel("true class")
    for i, j in zip(*np.nonzero(counts), strict=True):
        ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=6,
                color="white" if share[i, j] > 0.5 else "black")  # fmt: skip
    ax.set_title(title, fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the row")
    _save(fig, path)


def confusion_files(confusions: dict[str, tuple[list[str], np.ndarray]]) -> dict[str, str]:
    """{source set: its confusion PNG's file name} (sets named safely for a path)."""
    return {
        group: f"confusion-{''.join(c if c.isalnum() else '_' for c in group) or 'all'}.png"
        for group in confusions
    }


def _flat(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flat(f"{prefix}.{k}" if prefix else k, v, out)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        out[prefix] = value


def _table(metrics: dict[str, Any], baseline: dict[str, Any]) -> str:
    model, base = {}, {}
    _flat("", metrics, model)
    _flat("", baseline, base)
    rows = ["| figure | model | pixel-NN baseline |", "|---|---|---|"]

    def fmt(v: float | None) -> str:
        return "" if v is None else (str(v) if isinstance(v, int) else f"{v:.4f}")

    for key, value in model.items():
        rows.append(f"| {key} | {fmt(value)} | {fmt(base.get(key))} |")
    return "\n".join(rows)


def per_set_table(by_set: dict[str, dict[str, Any]]) -> str:
    """Markdown: macro (per-class mean) and micro k-shot top-1 of each source set and figure."""
    rows = [
        "| source set | figure | macro | macro, 95 % interval | micro | classes |",
        "|---|---|---|---|---|---|",
    ]
    for group, figures in by_set.items():
        for key, f in figures.items():
            ci = f.get("macro_ci95")
            interval = "–" if ci is None else f"{ci[0]:.4f}–{ci[1]:.4f}"
            rows.append(
                f"| {group} | {key} | {f['macro']:.4f} | {interval} | {f['micro']:.4f} | {f['classes']} |"
            )
    return "\n".join(rows)


def write_report(
    report_dir: Path, *, card: dict[str, Any], history: list[dict[str, Any]], evaluation, metric_name: str
) -> None:
    report_dir.mkdir(parents=True, exist_ok=True)
    ev = evaluation
    plot_curves(history, report_dir / "curves.png", metric_name=metric_name)
    plot_roc(
        ev.test_distances, ev.test_same, report_dir / "roc.png", auc=ev.metrics["verification"]["roc_auc"]
    )
    plot_histograms(
        ev.test_distances, ev.test_same, report_dir / "distances.png", threshold=card["threshold"]["value"]
    )
    plot_projection(ev.test_embeddings, ev.test_labels, report_dir / "projection.png")
    confusions = ev.confusions
    files = confusion_files(confusions)
    for group, (classes, counts) in confusions.items():
        plot_confusion(
            classes, counts, report_dir / files[group],
            title=f"{card['name']}, {group}: nearest-reference answers on test images",
        )  # fmt: skip
    if confusions:
        (report_dir / "confusion.json").write_text(
            json.dumps({g: {"classes": c, "counts": m.tolist()} for g, (c, m) in confusions.items()}) + "\n"
        )
    (report_dir / "history.json").write_text(json.dumps(history, indent=1) + "\n")
    metrics = {k: v for k, v in ev.metrics.items() if k not in ("split",)}
    text = [
        f"# {card['name']}: held-out evaluation",
        "",
        f"Encoder `{card['training']['encoder']}`, loss `{card['training']['loss']}`, "
        f"{card['training']['epochs']} epochs in {card['training']['minutes']:.1f} min on {card['training']['device']}.",
        f"Threshold {card['threshold']['value']:.4f} (L2 distance; tuned on validation identities for "
        f"FAR {card['threshold']['target_far']}); EER threshold {card['threshold']['eer_threshold']:.4f}.",
        f"Dataset: `{card['dataset']['recipe']}`, split `{card['dataset']['split']}`, "
        f"seed {card['dataset']['split_seed']}: "
        + ", ".join(
            f"{k} {v['classes']} classes / {v['images']} images"
            for k, v in card["dataset"].items()
            if isinstance(v, dict) and "classes" in v
        )
        + ".",
        "",
        "All figures are on the test split (identities or images never used for training or selection).",
        "",
        *(
            [
                "Per source set (macro: every class weighs the same; micro: every image does):",
                "",
                per_set_table(metrics["by_set"]),
                "",
            ]
            if metrics.get("by_set")
            else []
        ),
        _table(metrics, ev.baseline),
        "",
        "![curves](curves.png) ![roc](roc.png) ![distances](distances.png) ![projection](projection.png)",
        "",
        *(
            [
                "Confusion of the k-shot answers per source set (test images, novel classes enrolled from their "
                "own; rows: true class; counts over the enrolment rounds; `confusion.json` has the counts):",
                "",
                " ".join(f"![{g}]({f})" for g, f in files.items()),
                "",
            ]
            if files
            else []
        ),
    ]
    (report_dir / "README.md").write_text("\n".join(text))
