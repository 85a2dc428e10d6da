"""End-to-end smoke: one short training on a generated class-per-folder tree exports a parity-checked ONNX."""

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image, ImageDraw

from modelcard import load_card, preprocess
from training.cli import main


def _shape_image(cls: int, jitter: int, rng: np.random.Generator) -> Image.Image:
    img = Image.new("L", (32, 32), 0)
    draw = ImageDraw.Draw(img)
    x, y = 4 + int(rng.integers(0, jitter + 1)), 4 + int(rng.integers(0, jitter + 1))
    if cls % 3 == 0:
        draw.ellipse((x, y, x + 14 + cls, y + 14 + cls), fill=255)
    elif cls % 3 == 1:
        draw.rectangle((x, y, x + 10 + cls, y + 18), fill=200)
    else:
        draw.line((x, y, 30 - cls, 30), fill=255, width=2 + cls // 3)
    return img


def _write_shapes(root: Path, *, classes: int, per_class: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    for cls in range(classes):
        (root / f"c{cls}").mkdir()
        for n in range(per_class):
            _shape_image(cls, 4, rng).save(root / f"c{cls}" / f"{n}.png")
    return root


@pytest.fixture(scope="module")
def shapes_dir(tmp_path_factory):
    return _write_shapes(tmp_path_factory.mktemp("shapes"), classes=10, per_class=6, seed=0)


def _train_argv(
    data: Path, out: Path, name: str, *extra: str, batches: int, tasks: int, pairs: int
) -> list[str]:
    """A one-epoch training of a small CNN on the generated shapes, sized for a test."""
    settings = {
        "run_dir": out / "runs",
        "optim.batches_per_epoch": batches,
        "optim.p": 4,
        "optim.k": 2,
        "eval.n_tasks": tasks,
        "eval.n_pairs": pairs,
        "eval.n_way": 3,
        "data.val": 0.2,
        "data.test": 0.3,
        "eval.kshot": 2,
    }
    argv = [
        "train",
        "--data",
        str(data),
        "--name",
        name,
        "--encoder",
        "notebook-cnn",
        "--size",
        "28",
        "--embedding-dim",
        "16",
        "--epochs",
        "1",
        "--out",
        str(out),
        "--no-progress",
        "--threads",
        "1",
        *extra,
    ]
    for key, value in settings.items():
        argv += ["--set", f"{key}={value}"]
    return argv


@pytest.fixture(scope="module")
def trained(shapes_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    assert main(_train_argv(shapes_dir, out, "shapes", batches=3, tasks=20, pairs=200)) == 0
    return out


def test_train_writes_onnx_card_and_report(trained):
    assert (trained / "shapes.onnx").is_file()
    card = load_card(trained / "shapes.json")  # verifies the sha256
    assert card.embedding_dim == 16 and card.input.height == 28 and card.metric == "l2"
    assert 0.0 <= card.threshold.value <= 2.0 and card.threshold.target_far == 0.01
    assert card.training["onnx_parity_max_abs_diff"] <= 1e-4
    assert "verification" in card.metrics and "pixel_nn_baseline" in card.metrics
    report = trained / "shapes.report"
    for name in ("curves.png", "roc.png", "distances.png", "projection.png", "README.md"):
        assert (report / name).is_file(), name


def test_exported_model_embeds_card_preprocessed_images_with_unit_norm(trained, shapes_dir):
    card = load_card(trained / "shapes.json")
    session = ort.InferenceSession(str(trained / "shapes.onnx"), providers=["CPUExecutionProvider"])
    images = [Image.open(p) for p in sorted(shapes_dir.glob("c1/*.png"))[:3]]
    batch = np.stack([preprocess(im, card.input) for im in images])
    out = session.run([card.output_name], {card.input.name: batch})[0]
    assert out.shape == (3, 16)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)


def test_export_subcommand_rebuilds_from_checkpoint_with_new_far(trained):
    checkpoint = str(trained / "runs" / "shapes" / "best.pt")
    assert (
        main(["export", "--checkpoint", checkpoint, "--set", "eval.target_far=0.2", "--set", "name=shapes2"])
        == 0
    )
    card = json.loads((trained / "shapes2.json").read_text())
    assert card["name"] == "shapes2" and card["threshold"]["target_far"] == 0.2


def test_export_keeps_where_the_checkpoint_was_trained(trained):
    from training.train import load_checkpoint, save_checkpoint

    state = load_checkpoint(trained / "runs" / "shapes" / "best.pt")
    assert state["trained_on"].startswith("cpu (") and state["trained_on"].endswith(" 1 threads)")
    moved = trained / "elsewhere.pt"
    plain = {key: value for key, value in state.items() if key != "config"}  # config: added by the loader
    save_checkpoint(moved, **{**plain, "trained_on": "cuda (a lent GPU)"})
    assert main(["export", "--checkpoint", str(moved), "--set", "name=shapes3"]) == 0
    card = json.loads((trained / "shapes3.json").read_text())
    assert card["training"]["device"] == "cuda (a lent GPU)"


@pytest.fixture(scope="module")
def shapes_by_image(tmp_path_factory):
    """Six classes of twelve images: enough for an image split's test part to leave probes at 2-shot."""
    return _write_shapes(tmp_path_factory.mktemp("shapes12"), classes=6, per_class=12, seed=1)


def test_image_split_card_separates_trained_and_novel_classes_and_export_repeats_it(
    shapes_by_image, tmp_path
):
    argv = _train_argv(shapes_by_image, tmp_path, "parts", batches=3, tasks=20, pairs=200)
    argv += ["--split", "image", "--epochs", "2"]
    argv += ["--set", "data.novel_classes=c5", "--set", "data.ancestor_novel_classes=c4,c5"]
    assert main(argv) == 0
    card = json.loads((tmp_path / "parts.json").read_text())
    metrics = card["metrics"]
    assert 0.0 <= metrics["top1_2shot_known_classes"] <= 1.0
    assert 0.0 <= metrics["pixel_nn_baseline"]["top1_2shot_known_classes"] <= 1.0
    assert metrics["novel_classes"] == ["c5"] and 0.0 <= metrics["novel_classes_top1_2shot"] <= 1.0
    assert card["dataset"]["novel_classes"] == ["c5"]
    assert card["dataset"]["ancestor_novel_classes"] == ["c4", "c5"]

    from training.train import load_checkpoint

    best = load_checkpoint(tmp_path / "runs" / "parts" / "best.pt")
    assert len(json.loads(best["history_json"])) == card["training"]["epochs"] == 2, (
        "best.pt keeps the whole run"
    )
    assert (
        main(["export", "--checkpoint", str(tmp_path / "runs" / "parts" / "best.pt"), "--set", "name=again"])
        == 0
    )
    again = json.loads((tmp_path / "again.json").read_text())
    assert again["metrics"] == metrics and again["dataset"] == card["dataset"]
    assert (
        again["training"]["epochs"] == 2 and again["training"]["best_epoch"] == card["training"]["best_epoch"]
    )


def test_cli_rejects_unknown_override(capsys):
    assert main(["config", "--recipe", "omniglot", "--set", "optim.nope=1"]) == 2
    assert "unknown config key" in capsys.readouterr().err


def test_cli_config_prints_recipe(capsys):
    assert main(["config", "--recipe", "omniglot"]) == 0
    cfg = json.loads(capsys.readouterr().out)
    assert cfg["data"]["split"] == "group" and cfg["eval"]["within_group"] is True


def test_pair_distances_within_group_never_pairs_across_groups():
    from training.selection import pair_distances

    labels = np.repeat(np.arange(8), 4)
    groups = np.where(labels < 4, "a", "b")
    emb = np.zeros((len(labels), 2), dtype=np.float32)
    emb[groups == "b", 0] = 10.0  # any cross-group pair would be 10 apart
    d, same = pair_distances(emb, labels, n_pairs=400, seed=0, groups=groups)
    assert len(d) >= 398 and same.sum() == (~same).sum()
    assert d.max() < 1e-6


def test_train_init_from_checkpoint_warm_starts(trained, shapes_dir, tmp_path):
    checkpoint = trained / "runs" / "shapes" / "best.pt"
    argv = _train_argv(
        shapes_dir, tmp_path, "warm", "--init-from", str(checkpoint), batches=1, tasks=10, pairs=100
    )
    assert main(argv) == 0
    card = json.loads((tmp_path / "warm.json").read_text())
    assert card["training"]["config"]["init_from"] == str(checkpoint.resolve())


def test_onnx_module_embeds_like_the_exported_session(trained):
    import torch

    from training.export import onnx_embed
    from training.pipeline import OnnxModule

    x = np.random.default_rng(0).standard_normal((3, 1, 28, 28)).astype(np.float32)
    out = OnnxModule(trained / "shapes.onnx")(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(out, onnx_embed(trained / "shapes.onnx", x), atol=1e-6)


def test_finetune_run_freezes_then_scales_the_trunk_rate_and_reports_macro_per_set(shapes_by_image, tmp_path):
    argv = _train_argv(shapes_by_image, tmp_path, "tuned", batches=3, tasks=20, pairs=200)
    argv += ["--split", "image", "--epochs", "2", "--set", "data.novel_classes=c5"]
    argv += ["--set", "optim.freeze_epochs=1", "--set", "optim.trunk_lr_mult=0.5"]
    argv += ["--set", "eval.select=kshot_macro", "--set", "optim.warmup_epochs=0"]
    assert main(argv) == 0
    metrics = json.loads((tmp_path / "tuned.json").read_text())["metrics"]
    (figures,) = metrics["by_set"].values()  # one source set, named after its folder
    assert figures["top1_2shot_train_refs"]["classes"] == 5
    assert figures["novel_classes_top1_2shot"]["classes"] == 1
    assert 0.0 <= figures["top1_2shot_with_novel"]["macro"] <= 1.0

    from training.train import load_checkpoint

    groups = load_checkpoint(tmp_path / "runs" / "tuned" / "last.pt")["optimizer"]["param_groups"]
    assert [g["name"] for g in groups] == ["trunk", "head"]
    assert groups[0]["lr"] == pytest.approx(0.5 * groups[1]["lr"])
