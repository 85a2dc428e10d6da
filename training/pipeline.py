"""One dataset in, one finished `models/<name>.{onnx,json}` + `models/<name>.report/` out.

train -> tune the threshold on validation identities -> evaluate on test -> export ONNX (parity-checked)
-> write the model card -> write the report.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import torch

from modelcard import InputSpec, ModelCard
from modelcard.align import find_landmarks_file
from training.card import build_card, device_description
from training.config import TrainConfig, apply_overrides
from training.data.dataset import ImageDataset
from training.data.splits import Split
from training.encoders.pretrained import load_pretrained_trunk
from training.export import INPUT_NAME, OUTPUT_NAME, export_with_parity
from training.heldout import Evaluation, evaluate
from training.recipes import load_records, make_split
from training.report import write_report
from training.train import TrainResult, build_model, input_spec, model_from_checkpoint, train
from training.wise import (
    batchnorm_statistics,
    ensemble_with_pretrained,
    pretrained_entries,
    recompute_batchnorm,
)

BN_BATCH = 64  # images per forward pass when batch-norm statistics are re-estimated


class OnnxModule(torch.nn.Module):
    """Runs an exported ONNX encoder under ONNX Runtime behind the torch module interface (for evaluation)."""

    CHUNK = 32

    def __init__(self, path: Path, *, threads: int = 0) -> None:
        """`threads`: ONNX Runtime's intra-op threads (0 = its default, one per core)."""
        import onnxruntime as ort

        super().__init__()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Embeddings of `x`, run `CHUNK` images at a time: ONNX Runtime's CPU arena keeps what its largest
        batch needed, and a 256-px MobileNetV2 on 256 images at once outgrew 24 GB."""
        batch = x.cpu().numpy().astype(np.float32)
        parts = [
            self.session.run([OUTPUT_NAME], {INPUT_NAME: batch[i : i + self.CHUNK]})[0]
            for i in range(0, len(batch), self.CHUNK)
        ]
        return torch.from_numpy(np.concatenate(parts) if parts else np.zeros((0, 0), dtype=np.float32))


def parity_batch(split: Split, spec: InputSpec, n: int = 32) -> np.ndarray:
    records = (split.test or split.val)[:n]
    ds = ImageDataset(records, spec)
    return np.stack([ds[i][0].numpy() for i in range(len(ds))]).astype(np.float32)


def finish(
    cfg: TrainConfig,
    model: torch.nn.Module,
    split: Split,
    *,
    history: list[dict],
    seconds: float,
    device: str,
    trained_on: str | None = None,
) -> ModelCard:
    """Evaluate, export, and write the card and report for a trained model.

    `device` is where it is evaluated now; `trained_on` describes where it was trained (default: `device`).
    """
    spec = input_spec(cfg)
    evaluation = evaluate(model, split, cfg, device=device, spec=spec)
    model = model.cpu().eval()
    out = Path(cfg.out_dir)
    onnx_path = out / f"{cfg.name}.onnx"
    parity = export_with_parity(model, parity_batch(split, spec), onnx_path, max_mb=32.0)
    if spec.align is not None:  # the landmarks the card names ship beside it
        shutil.copyfile(find_landmarks_file(spec.align), out / spec.align.landmarks)
    training = {
        "loss": cfg.optim.loss,
        "encoder": cfg.model.encoder,
        "sampler": cfg.optim.sampler,
        "epochs": len(history),
        "minutes": round(seconds / 60, 2),
        "device": trained_on or device_description(device),
        "best_epoch": int(max(history, key=lambda h: h["val"])["epoch"]) if history else None,
        "selection_metric": cfg.eval.select,
        "onnx_parity_max_abs_diff": parity,
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "config": cfg.to_dict(),
    }
    card = build_card(
        cfg=cfg,
        spec=spec,
        onnx_path=onnx_path,
        split=split,
        threshold=evaluation.threshold,
        metrics=evaluation.metrics,
        baseline=evaluation.baseline,
        training=training,
        identification=evaluation.identification,
    )
    card.save(out / f"{cfg.name}.json")
    write_report(
        out / f"{cfg.name}.report",
        card=json.loads(json.dumps(card.to_dict())),
        history=history,
        evaluation=evaluation,
        metric_name=cfg.eval.select,
    )
    return card


def import_pretrained(cfg: TrainConfig) -> ModelCard:
    """Evaluate and export the configured encoder as its pretrained weights give it (`model.pretrained`),
    with no training: its threshold tuned on the validation identities, its figures from the test split."""
    if not cfg.model.pretrained:
        raise ValueError("import needs model.pretrained (e.g. dlib-face for encoder dlib-resnet)")
    split = make_split(load_records(cfg.data), cfg.data)
    model = build_model(cfg).eval()
    return finish(cfg, model, split, history=[], seconds=0.0, device="cpu")


def pretrained_start(cfg: TrainConfig) -> tuple[torch.nn.Module, set[str]]:
    """The configured encoder with its pretrained weights, and the state-dict entries those weights set (the
    others, e.g. a projection head an ImageNet trunk lacks, are NaN here: they started random)."""
    model = build_model(dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, pretrained=None)))
    loaded = pretrained_entries(
        model, lambda m: load_pretrained_trunk(m, encoder=cfg.model.encoder, name=cfg.model.pretrained)
    )
    return model, loaded


def with_pretrained_ensemble(cfg: TrainConfig, model: torch.nn.Module, split: Split) -> torch.nn.Module:
    """The trained model, interpolated with its pretrained start when the config asks (`optim.wise_alpha`):
    the entries the pretrained weights set, batch-norm statistics as `optim.wise_batchnorm` says (re-estimated
    on `split.train`, unaugmented, for "recompute")."""
    o = cfg.optim
    if o.wise_alpha is None:
        return model
    if not cfg.model.pretrained:
        raise ValueError("optim.wise_alpha needs model.pretrained (the weights to interpolate with)")
    print(
        f"{cfg.name}: weights {o.wise_alpha:g} x trained + {1 - o.wise_alpha:g} x pretrained ({o.wise_batchnorm} BN)"
    )
    pretrained, keys = pretrained_start(cfg)
    if o.wise_batchnorm == "finetuned":
        keys -= batchnorm_statistics(model)
    model = ensemble_with_pretrained(model.cpu(), pretrained, alpha=o.wise_alpha, keys=keys)
    if o.wise_batchnorm == "recompute":
        # shuffled (seeded): the per-batch variances averaged then hold every class, not one or two
        images = ImageDataset(split.train, input_spec(cfg))
        order = torch.Generator().manual_seed(cfg.seed)
        batches = torch.utils.data.DataLoader(images, batch_size=BN_BATCH, shuffle=True, generator=order)
        recompute_batchnorm(model, batches)
    return model.eval()


def build(cfg: TrainConfig, *, resume: bool = False, progress: bool = True) -> ModelCard:
    result: TrainResult = train(cfg, resume=resume, progress=progress)
    model = with_pretrained_ensemble(cfg, result.model, result.split)
    return finish(
        cfg, model, result.split, history=result.history, seconds=result.seconds, device=result.device
    )


def export_checkpoint(
    checkpoint: Path, *, out_dir: str | None = None, overrides: list[str] = ()
) -> ModelCard:
    """Re-evaluate a checkpoint and export it (e.g. a run stopped early, or to re-tune the threshold)."""
    model, cfg, state = model_from_checkpoint(checkpoint)
    cfg = apply_overrides(cfg, ([f"out_dir={out_dir}"] if out_dir is not None else []) + list(overrides))
    split = make_split(load_records(cfg.data), cfg.data)
    model = with_pretrained_ensemble(cfg, model, split)
    history = json.loads(state["history_json"])
    return finish(
        cfg,
        model,
        split,
        history=history,
        seconds=float(state["seconds"]),
        device="cpu",
        trained_on=state.get("trained_on"),
    )


def evaluate_onnx(onnx_path: Path, cfg: TrainConfig) -> Evaluation:
    """Evaluate a shipped ONNX model on `cfg`'s test split, preprocessing from its card alone."""
    from modelcard import load_card

    card = load_card(Path(onnx_path).with_suffix(".json"))
    split = make_split(load_records(cfg.data), cfg.data)
    return evaluate(
        OnnxModule(onnx_path), split, cfg, device="cpu", spec=card.input, fixed_threshold=card.threshold.value
    )
