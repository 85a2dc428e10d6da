"""The WiSE-FT validation sweep: its plan of variants, and a run on a real (tiny) MobileNetV2 checkpoint."""

import json

import numpy as np
import pytest
from PIL import Image

from training.config import DataConfig, EvalConfig, InputConfig, ModelConfig, OptimConfig, TrainConfig
from training.encoders.pretrained import IMAGENET_MEAN, IMAGENET_STD
from training.train import train
from training.wise_sweep import FINETUNED, main, variants


def test_variants_start_with_the_finetune_and_skip_alpha_one_repeats():
    out = variants([0.5, 1.0, 0.85, 0.5], ["interpolate", "finetuned"])
    assert out == [
        FINETUNED,
        (0.85, "interpolate"),
        (0.85, "finetuned"),
        (0.5, "interpolate"),
        (0.5, "finetuned"),
    ]


def test_variants_measure_recomputed_statistics_alone_at_alpha_one():
    assert variants([0.7], ["recompute"]) == [FINETUNED, (0.7, "recompute"), (1.0, "recompute")]


def test_sweep_scores_a_real_checkpoint_against_its_finetune(tmp_path, capsys):
    rng = np.random.default_rng(0)
    for c in range(4):
        (tmp_path / "data" / f"c{c}").mkdir(parents=True)
        for n in range(8):
            pixels = np.clip(rng.normal(60 * c, 30, size=(32, 32, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(tmp_path / "data" / f"c{c}" / f"{n}.png")
    cfg = TrainConfig(
        name="tiny",
        data=DataConfig(recipe="folder", paths=(str(tmp_path / "data"),), split="image", val=0.25, test=0.25),
        input=InputConfig(height=32, width=32, channels=3, mean=IMAGENET_MEAN, std=IMAGENET_STD),
        model=ModelConfig(encoder="mobilenet-v2", embedding_dim=8, pretrained="imagenet"),
        optim=OptimConfig(epochs=1, batches_per_epoch=2, p=4, k=2, warmup_epochs=0),
        eval=EvalConfig(select="kshot_macro", kshot=2),
        run_dir=str(tmp_path / "runs"),
        threads=1,
    )
    checkpoint = train(cfg, progress=False).checkpoint
    capsys.readouterr()
    main(["--checkpoint", str(checkpoint), "--alpha", "0.5", "--batchnorm", "finetuned"])
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["alpha"], r["batchnorm"]) for r in rows] == [FINETUNED, (0.5, "finetuned")]
    assert rows[0]["vs_finetuned"] == {"difference": 0.0, "low": 0.0, "high": 0.0}
    assert 0.0 <= rows[1]["kshot_macro"] <= 1.0 and rows[1]["by_set"]
    low, diff, high = (rows[1]["vs_finetuned"][k] for k in ("low", "difference", "high"))
    assert low <= diff <= high
    assert diff == pytest.approx(rows[1]["kshot_macro"] - rows[0]["kshot_macro"])
