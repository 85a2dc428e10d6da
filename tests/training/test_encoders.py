"""Encoders: shapes, unit-norm output, rebuilding from `.config`, and ONNX export parity under onnxruntime."""

import json
import warnings

import numpy as np
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F

from training.encoders import ENCODERS, build_encoder, count_parameters
from training.encoders.base import GeM, GridPool, average_projection_on_grid
from training.train import warm_start

SIZES = ((1, 28, 28), (3, 64, 48))
# dlib's face network has one fixed shape (RGB, 128-d, >= 100 px): tests/training/test_dlib_resnet.py
SIZED = tuple(name for name in ENCODERS if name != "dlib-resnet")


def _encoder(name: str, channels: int = 1, height: int = 28, width: int = 28, **kwargs) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_encoder(name, in_channels=channels, height=height, width=width, embedding_dim=16, **kwargs)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("name", SIZED)
def test_build_encoder_gives_unit_norm_embeddings_of_requested_size(name, size):
    model = _encoder(name, *size).eval()
    with torch.no_grad():
        out = model(torch.randn(3, *size))
    assert out.shape == (3, 16) and out.dtype == torch.float32
    assert torch.allclose(out.norm(dim=1), torch.ones(3), atol=1e-5)


@pytest.mark.parametrize("name", SIZED)
def test_build_encoder_from_json_config_rebuilds_same_shapes(name):
    model = _encoder(name, 3, 64, 48)
    config = json.loads(json.dumps(model.config))
    rebuilt = build_encoder(**config)
    assert config["name"] == name and rebuilt.config == model.config
    shapes = {k: v.shape for k, v in model.state_dict().items()}
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == shapes
    rebuilt.load_state_dict(model.state_dict())


def test_build_encoder_encoder_options_reach_config():
    koch = _encoder("koch", width_mult=0.25, pool=2)
    resnet = _encoder("resnet-small", base_width=8, blocks=[2, 1, 1, 1], bn_neck=True)
    assert (koch.config["width_mult"], koch.config["pool"]) == (0.25, 2)
    assert resnet.config["blocks"] == [2, 1, 1, 1] and resnet.config["stem_stride"] == 1
    assert count_parameters(resnet) < count_parameters(_encoder("resnet-small"))


def test_build_encoder_unknown_name_raises_value_error():
    with pytest.raises(ValueError, match="unknown encoder"):
        build_encoder("vgg", in_channels=1, height=28, width=28)


def test_build_encoder_unknown_option_raises_value_error():
    with pytest.raises(ValueError, match="bad options"):
        build_encoder("koch", in_channels=1, height=28, width=28, base_width=8)


def test_build_encoder_input_too_small_raises_value_error():
    with pytest.raises(ValueError, match="too small"):
        build_encoder("notebook-cnn", in_channels=1, height=12, width=12)


def test_build_encoder_over_size_budget_raises_value_error():
    with pytest.raises(ValueError, match="32 MB"):
        build_encoder("notebook-cnn", in_channels=1, height=224, width=224)


def test_encoder_zero_embedding_stays_finite():
    model = _encoder("notebook-cnn").eval()
    for p in model.head.parameters():
        torch.nn.init.zeros_(p)
    with torch.no_grad():
        out = model(torch.randn(2, 1, 28, 28))
    assert torch.equal(out, torch.zeros(2, 16))


@pytest.mark.parametrize(("in_hw", "out_hw"), [((11, 7), (4, 4)), ((12, 8), (4, 2)), ((1, 1), (1, 1))])
def test_grid_pool_matches_adaptive_avg_pool(in_hw, out_hw):
    x = torch.randn(2, 3, *in_hw)
    expected = F.adaptive_avg_pool2d(x, out_hw).flatten(1)
    assert torch.allclose(GridPool(in_hw, out_hw)(x), expected, atol=1e-6)


def test_gem_with_p_1_is_average_pooling_and_large_p_approaches_max():
    x = torch.tensor([[[[1.0, 2.0], [3.0, 10.0]]]])  # mean 4, max 10
    with torch.no_grad():
        assert GeM(p=1.0)(x).item() == pytest.approx(4.0)
        assert GeM(p=3.0)(x).item() == pytest.approx(259.0 ** (1 / 3))  # ((1 + 8 + 27 + 1000) / 4) ** (1/3)
        assert GeM(p=20.0)(x).item() == pytest.approx(10.0, rel=0.1)


def test_resnet_small_gem_pool_exports_to_onnx_with_parity(tmp_path):
    model = _encoder("resnet-small", 1, 64, 56, pool="gem")
    assert model.config["pool"] == "gem"
    diff = _export_and_compare(model, (1, 64, 56), tmp_path / "m.onnx", dynamo=False)
    assert diff <= 1e-4


@pytest.mark.parametrize("name", ("resnet-small", "mobilenet-v2", "efficientnet-lite0", "efficientnet-lite2"))
def test_unknown_pool_raises_value_error(name):
    with pytest.raises(ValueError, match="pool must be one of"):
        _encoder(name, 3, 64, 64, pool="max")


@pytest.mark.parametrize(("pool", "kind"), (("gem", GeM), ("grid2", GridPool)))
@pytest.mark.parametrize("name", ("mobilenet-v2", "efficientnet-lite0"))
def test_pretrained_trunk_encoders_pooled_otherwise_rebuild_from_config_and_export_with_parity(
    name, pool, kind, tmp_path
):
    model = _encoder(name, 3, 64, 56, pool=pool)
    assert model.config["pool"] == pool and isinstance(model.head[0], kind)
    rebuilt = build_encoder(**json.loads(json.dumps(model.config)))
    rebuilt.load_state_dict(model.state_dict())  # the exponent p is part of the weights
    assert "pool" not in _encoder(name, 3, 64, 56).config  # average-pooled configs stay as they were
    diff = _export_and_compare(model, (3, 64, 56), tmp_path / "m.onnx", dynamo=False)
    assert diff <= 1e-4


def _export_and_compare(model: torch.nn.Module, size: tuple[int, int, int], path, *, dynamo: bool) -> float:
    model.eval()
    kwargs = (
        {"dynamic_shapes": {"x": {0: torch.export.Dim("batch")}}}
        if dynamo
        else {"dynamic_axes": {"input": {0: "batch"}, "embedding": {0: "batch"}}}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model, (torch.randn(2, *size),), str(path), input_names=["input"], output_names=["embedding"],
            dynamo=dynamo, **kwargs,
        )  # fmt: skip
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).standard_normal((5, *size)).astype(np.float32)  # batch differs from export
    (onnx_out,) = session.run(["embedding"], {session.get_inputs()[0].name: x})
    with torch.no_grad():
        torch_out = model(torch.from_numpy(x)).numpy()
    assert onnx_out.shape == (5, 16)
    return float(np.abs(onnx_out - torch_out).max())


@pytest.mark.parametrize("name", SIZED)
def test_encoder_onnx_export_with_dynamic_batch_matches_torch(name, tmp_path):
    diff = _export_and_compare(_encoder(name, 1, 64, 56), (1, 64, 56), tmp_path / "m.onnx", dynamo=False)
    assert diff <= 1e-4


def test_encoder_dynamo_onnx_export_matches_torch(tmp_path):
    diff = _export_and_compare(_encoder("koch", 1, 64, 56), (1, 64, 56), tmp_path / "m.onnx", dynamo=True)
    assert diff <= 1e-4


def test_resnet_small_stem_stride_4_pools_large_inputs_and_rebuilds():
    import json

    import torch

    from training.encoders import build_encoder

    model = build_encoder(
        "resnet-small", in_channels=1, height=128, width=128, embedding_dim=16, stem_stride=4
    )
    assert model.config["stem_stride"] == 4
    out = model.eval()(torch.randn(2, 1, 128, 128))
    assert out.shape == (2, 16)
    torch.testing.assert_close(out.norm(dim=1), torch.ones(2))
    rebuilt = build_encoder(**json.loads(json.dumps(model.config)))
    assert sum(p.numel() for p in rebuilt.parameters()) == sum(p.numel() for p in model.parameters())


def test_warm_start_of_gem_head_from_average_pooled_weights_keeps_initial_exponent():
    avg = _encoder("mobilenet-v2", 3, 64, 64)
    gem = _encoder("mobilenet-v2", 3, 64, 64, pool="gem")
    warm_start(gem, avg.state_dict())
    assert torch.equal(gem.head[2].weight, avg.head[2].weight) and gem.head[0].p.item() == pytest.approx(3.0)


def test_warm_start_from_a_checkpoint_of_another_encoder_raises_value_error():
    other = _encoder("resnet-small", 3, 64, 64)
    with pytest.raises(ValueError, match="does not fit this encoder"):
        warm_start(_encoder("mobilenet-v2", 3, 64, 64), other.state_dict())
    head_only = {k: v for k, v in _encoder("mobilenet-v2", 3, 64, 64).state_dict().items() if "head" in k}
    with pytest.raises(ValueError, match="missing"):
        warm_start(_encoder("mobilenet-v2", 3, 64, 64), head_only)


def test_warm_start_of_grid_head_from_average_pooled_weights_gives_the_same_embeddings():
    # 64 px: a 2 x 2 map, so each cell is one position and the grid's cells are equal windows.
    avg = _encoder("mobilenet-v2", 3, 64, 64).eval()
    grid = _encoder("mobilenet-v2", 3, 64, 64, pool="grid2").eval()
    assert grid.head[2].weight.shape == (16, 4 * 1280) and grid.config["pool"] == "grid2"
    warm_start(grid, avg.state_dict())
    x = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(grid(x), avg(x), atol=1e-5)


def test_average_projection_on_grid_splits_each_channel_over_its_cells():
    weight = torch.tensor([[4.0, 8.0]])
    assert torch.equal(average_projection_on_grid(weight, 2), torch.tensor([[2.0, 2.0, 4.0, 4.0]]))
    # Cell features (channel-major) whose per-channel means are the averaged features give the same output.
    cells = torch.tensor(
        [[1.0, 3.0, 5.0, 7.0]]
    )  # channel 0 cells 1, 3 (mean 2); channel 1 cells 5, 7 (mean 6)
    assert cells @ average_projection_on_grid(weight, 2).T == torch.tensor([[2.0, 6.0]]) @ weight.T


@pytest.mark.parametrize("name", ("resnet-small", "mobilenet-v2"))
def test_grid_pool_exports_to_onnx_with_parity_at_an_odd_map(name, tmp_path):
    model = _encoder(name, 3, 224, 224, pool="grid2")  # mobilenet: a 7 x 7 map, cells overlap by a row
    diff = _export_and_compare(model, (3, 224, 224), tmp_path / "m.onnx", dynamo=False)
    assert diff <= 1e-4
