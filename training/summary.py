"""Summarize the shipped model cards as a markdown table: `python -m training summary [--models models]`.

The README's results table is this command's output, so every figure comes from a card.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# (label, path into card["metrics"], target) for each shipped model's headline figures.
HEADLINES: dict[str, list[tuple[str, tuple[str, ...], float | None]]] = {
    "omniglot": [
        ("20-way 1-shot, within alphabet", ("20way_1shot_within_group", "accuracy"), 0.95),
        ("5-way 1-shot, within alphabet", ("5way_1shot_within_group", "accuracy"), None),
    ],
    "faces": [
        (
            "verification accuracy, held-out CelebA",
            ("by_group", "celeba", "verification", "accuracy_at_threshold"),
            0.90,
        ),
        ("verification accuracy, all held-out identities", ("verification", "accuracy_at_threshold"), None),
        ("ROC AUC, all held-out identities", ("verification", "roc_auc"), None),
        ("5-shot top-1, all held-out identities", ("top1_5shot",), None),
        ("5-shot top-1, held-out Yale B (harsh side light)", ("by_group", "yaleb", "top1_5shot"), 0.95),
    ],
    "defects": [
        ("5-shot top-1, held-out images of the trained classes", ("top1_5shot_known_classes",), 0.97),
        ("5-shot top-1, held-out images with the novel types among them", ("top1_5shot",), None),
        ("5-shot top-1, train references", ("top1_5shot_train_refs",), None),
        ("5-shot top-1, novel defect types", ("novel_classes_top1_5shot",), None),
    ],
    "bodyparts": [
        ("5-shot top-1, held-out images of the trained classes", ("top1_5shot_known_classes",), 0.90),
        ("5-shot top-1, held-out images with the novel classes among them", ("top1_5shot",), None),
        ("5-shot top-1, train references", ("top1_5shot_train_refs",), None),
        ("5-shot top-1, novel classes", ("novel_classes_top1_5shot",), None),
    ],
}


# Macro (per-class mean) targets of each source set (issue 13), judged on test images vs training references.
SET_TARGETS: dict[str, float] = {"unifesp": 0.90, "mednist": 0.99, "neu": 0.99, "magnetic_tile": 0.97}


POOL_WORDS = {"gem": ", GeM pooling", "grid2": ", 2×2 grid pooling"}  # average pooling goes unsaid


def set_rows(card: dict[str, Any]) -> list[str]:
    """One row per source set and figure of `metrics.by_set`: macro / micro, the target judged on macro."""
    rows = []
    for group, figures in card["metrics"].get("by_set", {}).items():
        for key, label in (
            ("top1_5shot_train_refs", "held-out images vs 5 training references"),
            ("novel_classes_top1_5shot", "novel classes"),
        ):
            if key not in figures:
                continue
            f, target = figures[key], SET_TARGETS.get(group) if key == "top1_5shot_train_refs" else None
            met = "" if target is None else (" ✓" if f["macro"] >= target else " ✗")
            ci = f.get("macro_ci95")
            interval = "" if ci is None else f" [{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]"
            rows.append(
                f"| `{card['name']}` | {group}: 5-shot top-1, {label}, macro{' [95 % interval]' if ci else ''} / "
                f"micro | {_fmt(f['macro'])}{met}{interval} / {_fmt(f['micro'])} | {_fmt(target)} | |"
            )
    return rows


def dig(data: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data.get("accuracy") if isinstance(data, dict) else data


def _fmt(value: Any) -> str:
    return "–" if value is None else f"{100 * float(value):.1f} %"


def rows_for(card: dict[str, Any]) -> list[str]:
    rows = []
    base = card["metrics"].get("pixel_nn_baseline", {})
    for label, path, target in HEADLINES.get(card["name"], []):
        value = dig(card["metrics"], path)
        met = "" if target is None or value is None else (" ✓" if value >= target else " ✗")
        rows.append(
            f"| `{card['name']}` | {label} | {_fmt(value)}{met} | {_fmt(target)} | {_fmt(dig(base, path))} |"
        )
    rows += set_rows(card)
    rows += identification_rows(card)
    t = card["training"]
    rows.append(
        f"| `{card['name']}` | threshold (L2) at FAR {card['threshold']['target_far']:g} on validation | "
        f"{card['threshold']['value']:.3f} | | |"
    )
    size = f"{card['input']['height']}×{card['input']['width']}"
    pool = POOL_WORDS.get(t.get("config", {}).get("model", {}).get("pool"), "")
    warm = "a warm start, then " if t.get("config", {}).get("init_from") else ""
    pretrained = t.get("pretrained", {}).get("name")
    if pretrained and not t["epochs"]:
        how = f"{t['encoder']} at {size}, pretrained weights `{pretrained}` as they ship (no training here)"
    else:
        start = f"from pretrained `{pretrained}`, " if pretrained else warm
        alpha = t.get("config", {}).get("optim", {}).get("wise_alpha")
        if alpha is not None:
            start = f"averaged {alpha:g} / {1 - alpha:g} with pretrained `{pretrained}` after "
        how = f"{t['encoder']} at {size}{pool}, {t['loss']}, {start}{t['epochs']} epochs, {t['minutes']:.0f} min, {t['device']}"
    rows.append(f"| `{card['name']}` | trained | {how} | | |")
    return rows


def identification_rows(card: dict[str, Any]) -> list[str]:
    """identify's open-set figures on the test split at 5 references per identity, per gallery size: FNIR at
    the thresholds tuned on validation for FPIR 1 % (the NIST FRVT figure) and for the card's default."""
    table = card.get("identification") or {}
    shown = sorted({0.01, table.get("target_fpir", 0.01)})
    rows = []
    for row in table.get("test", []):
        if row["k"] != 5 or row["target_fpir"] not in shown:
            continue
        default = " (the default)" if row["target_fpir"] == table["target_fpir"] else ""
        micro = f" per class, {_fmt(row['fpir_micro'])} of probes" if "fpir_micro" in row else ""
        rows.append(
            f"| `{card['name']}` | identify, {row['identities']} identities × 5 references: genuine probes missed "
            f"(FNIR) at the FPIR {_fmt(row['target_fpir'])} threshold{default}; strangers accepted "
            f"{_fmt(row['fpir'])}{micro} | {_fmt(row['fnir'])} | | |"
        )
    return rows


def summary_table(models_dir: Path) -> str:
    lines = ["| model | figure (test split) | value | target | pixel-NN baseline |", "|---|---|---|---|---|"]
    for path in sorted(Path(models_dir).glob("*.json")):
        lines += rows_for(json.loads(path.read_text()))
    return "\n".join(lines)


COMPARE_FIGURES = (
    ("20-way 1-shot (within group)", ("20way_1shot_within_group",)),
    ("5-way 1-shot (within group)", ("5way_1shot_within_group",)),
    ("top-1, 5-shot", ("top1_5shot",)),
    ("ROC AUC", ("verification", "roc_auc")),
    ("TAR @ FAR 1e-2", ("verification", "tar_at_far_1e-2")),
    ("EER", ("verification", "eer")),
)


def compare_table(models_dir: Path) -> str:
    """One row per card in `models_dir` (e.g. the same recipe trained with different losses)."""
    cards = [json.loads(p.read_text()) for p in sorted(Path(models_dir).glob("*.json"))]
    shown = [(label, path) for label, path in COMPARE_FIGURES if any(dig(c["metrics"], path) for c in cards)]
    head = "| run | loss | encoder | epochs | min | " + " | ".join(label for label, _ in shown) + " |"
    lines = [head, "|" + "---|" * (5 + len(shown))]
    for c in cards:
        t = c["training"]
        figures = " | ".join(_fmt(dig(c["metrics"], path)) for _, path in shown)
        lines.append(
            f"| `{c['name']}` | {t['loss']} | {t['encoder']} | {t['epochs']} | {t['minutes']:.0f} | {figures} |"
        )
    return "\n".join(lines)
