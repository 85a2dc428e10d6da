"""Training learns: loss falls well below its start on a tiny set, and a resumed run ends where an uninterrupted
one does (weights and history, under a fixed seed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import training.train as train_module
from training.config import DataConfig, EvalConfig, InputConfig, ModelConfig, OptimConfig, TrainConfig
from training.data.augment import AugmentConfig
from training.data.dataset import ImageDataset
from training.losses import make_loss
from training.train import build_model, input_spec, load_checkpoint, seed_everything, train

CLASSES, PER_CLASS, SIDE, NOISE = 6, 8, 28, 100


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6 classes x 8 grey images: a fixed random pattern per class, each image with its own heavy noise."""
    root = tmp_path_factory.mktemp("tiny")
    rng = np.random.default_rng(0)
    for c in range(CLASSES):
        (root / f"c{c}").mkdir()
        pattern = rng.integers(0, 256, (SIDE, SIDE))
        for n in range(PER_CLASS):
            noisy = np.clip(pattern + rng.integers(-NOISE, NOISE + 1, pattern.shape), 0, 255).astype(np.uint8)
            Image.fromarray(noisy).save(root / f"c{c}" / f"{n}.png")
    return root


def _config(data: Path, runs: Path, *, epochs: int) -> TrainConfig:
    """A small CNN on the tiny set, no augmentation, no early stop, one CPU thread."""
    return TrainConfig(
        name="tiny",
        data=DataConfig(recipe="folder", paths=(str(data),), split="image", val=0.25, test=0.25),
        input=InputConfig(height=SIDE, width=SIDE, channels=1, mean=(0.5,), std=(0.5,)),
        model=ModelConfig(encoder="notebook-cnn", embedding_dim=16),
        optim=OptimConfig(lr=3e-4, epochs=epochs, warmup_epochs=0, p=4, k=4, batches_per_epoch=8, patience=0),
        augment=AugmentConfig(rotation=0.0, shear=0.0, scale=(1.0, 1.0), translate=0.0),
        eval=EvalConfig(select="kshot_top1", kshot=2),
        run_dir=str(runs),
        device="cpu",
        threads=1,
    )


def _loss_on(model: torch.nn.Module, ds: ImageDataset, cfg: TrainConfig) -> float:
    """The configured loss over the whole set as one batch, the model in eval mode."""
    loss = make_loss(cfg.optim.loss, embedding_dim=cfg.model.embedding_dim, num_classes=len(ds.classes))
    with torch.no_grad():
        x = ds.stack(range(len(ds)))
        return float(loss(model.eval()(x), torch.tensor(ds.labels)))


def test_train_on_a_tiny_set_drives_the_loss_far_below_its_start(tiny_set: Path, tmp_path: Path):
    cfg = _config(tiny_set, tmp_path, epochs=4)
    seed_everything(cfg.seed)
    untrained = build_model(cfg)  # the weights train() starts from: same seed, same construction
    result = train(cfg, progress=False)
    ds = ImageDataset(result.split.train, input_spec(cfg), threads=1)
    start, end = _loss_on(untrained, ds, cfg), _loss_on(result.model, ds, cfg)
    assert start > 0.3 and end < 0.1 * start, (start, end)
    losses = [row["loss"] for row in result.history]
    assert losses[-1] < 0.1 * losses[0], losses


def test_resumed_training_matches_an_uninterrupted_run(
    tiny_set: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    whole = train(_config(tiny_set, tmp_path / "whole", epochs=4), progress=False)

    cfg = _config(tiny_set, tmp_path / "cut", epochs=4)
    real_should_stop = train_module.should_stop

    def interrupt_after_two(history: list[float], *, patience: int) -> bool:
        if len(history) == 2:  # epoch 2's checkpoint is written: the process dies here, as under kill -9
            raise KeyboardInterrupt
        return real_should_stop(history, patience=patience)

    monkeypatch.setattr(train_module, "should_stop", interrupt_after_two)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, progress=False)
    monkeypatch.setattr(train_module, "should_stop", real_should_stop)
    resumed = train(cfg, resume=True, progress=False)

    last = {
        name: load_checkpoint(Path(run) / "tiny" / "last.pt")
        for name, run in (("whole", tmp_path / "whole"), ("cut", tmp_path / "cut"))
    }
    assert last["cut"]["epoch"] == last["whole"]["epoch"] == 3
    for key, tensor in last["whole"]["model"].items():
        torch.testing.assert_close(last["cut"]["model"][key], tensor, rtol=1e-5, atol=1e-6, msg=key)
    for ours, theirs in zip(resumed.history, whole.history, strict=True):
        assert ours["epoch"] == theirs["epoch"] and ours["lr"] == pytest.approx(theirs["lr"])
        assert ours["loss"] == pytest.approx(theirs["loss"], rel=1e-5)
        assert ours["val"] == pytest.approx(theirs["val"])
