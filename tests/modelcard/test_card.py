"""Model card parsing, validation and the preprocessing it drives."""

import json

import numpy as np
import pytest
from PIL import Image

from modelcard import CardError, InputSpec, ModelCard, Threshold, load_card, preprocess, sha256_file


def _card(**overrides) -> dict:
    card = {
        "name": "toy",
        "onnx_sha256": "0" * 64,
        "input": {"height": 4, "width": 6, "channels": 1, "mean": [0.5], "std": [0.25], "resize": "stretch"},
        "embedding_dim": 8,
        "metric": "l2",
        "threshold": {"value": 0.9, "target_far": 0.01, "method": "far"},
    }
    card.update(overrides)
    return card


def test_from_dict_round_trips_through_to_dict():
    card = ModelCard.from_dict(_card())
    assert ModelCard.from_dict(card.to_dict()) == card


def test_from_dict_rejects_unknown_metric():
    with pytest.raises(CardError, match="metric"):
        ModelCard.from_dict(_card(metric="cosine-ish"))


def test_input_spec_rejects_mean_of_wrong_length():
    with pytest.raises(CardError, match="per channel"):
        InputSpec(height=2, width=2, channels=3, mean=(0.5,), std=(0.5,))


def test_load_card_rejects_sha_mismatch(tmp_path):
    (tmp_path / "toy.onnx").write_bytes(b"not really onnx")
    (tmp_path / "toy.json").write_text(json.dumps(_card()))
    with pytest.raises(CardError, match="sha256"):
        load_card(tmp_path / "toy.json")


def test_load_card_accepts_matching_sha(tmp_path):
    (tmp_path / "toy.onnx").write_bytes(b"bytes")
    (tmp_path / "toy.json").write_text(json.dumps(_card(onnx_sha256=sha256_file(tmp_path / "toy.onnx"))))
    assert load_card(tmp_path / "toy.json").threshold == Threshold(value=0.9, target_far=0.01, method="far")


def test_preprocess_grey_stretch_normalizes_by_card():
    spec = ModelCard.from_dict(_card()).input
    white = Image.new("RGB", (10, 10), (255, 255, 255))
    out = preprocess(white, spec)
    assert out.shape == (1, 4, 6) and out.dtype == np.float32
    np.testing.assert_allclose(out, (1.0 - 0.5) / 0.25)


def test_preprocess_invert_and_rgb_layout():
    spec = InputSpec(height=2, width=2, channels=3, mean=(0, 0, 0), std=(1, 1, 1), invert=True)
    red = Image.new("RGB", (2, 2), (255, 0, 0))
    out = preprocess(red, spec)
    np.testing.assert_allclose(out[:, 0, 0], [0.0, 1.0, 1.0])


@pytest.mark.parametrize("mode", ["center_crop", "pad"])
def test_preprocess_keeps_aspect_modes_return_card_size(mode):
    spec = InputSpec(height=8, width=8, channels=1, mean=(0,), std=(1,), resize=mode)
    assert preprocess(Image.new("L", (40, 10), 200), spec).shape == (1, 8, 8)


def test_brighten_lifts_a_dark_image_to_the_target_mean_and_leaves_others():
    from modelcard.preprocess import brighten

    dark = np.full((4, 4), 0.1, dtype=np.float32)
    assert brighten(dark, 0.45).mean() == pytest.approx(0.45, abs=1e-5)
    bright = np.full((4, 4), 0.6, dtype=np.float32)
    assert np.array_equal(brighten(bright, 0.45), bright)
    assert brighten(np.zeros((2, 2), np.float32), 0.45).max() == 0.0  # black stays black


def test_preprocess_brightens_only_cards_that_ask():
    img = Image.fromarray(np.full((4, 6), 26, dtype=np.uint8))  # mean about 0.1
    plain = InputSpec(height=4, width=6, channels=1, mean=(0.0,), std=(1.0,))
    lifted = InputSpec(height=4, width=6, channels=1, mean=(0.0,), std=(1.0,), brighten=0.45)
    assert preprocess(img, plain).mean() == pytest.approx(26 / 255, abs=1e-6)
    assert preprocess(img, lifted).mean() == pytest.approx(0.45, abs=1e-4)
    with pytest.raises(CardError, match="brighten"):
        InputSpec(height=4, width=6, channels=1, mean=(0.0,), std=(1.0,), brighten=1.5)


@pytest.mark.parametrize("bad", [0, -1, 2.5, "4", True, None])
def test_a_serving_cap_that_is_not_a_positive_integer_is_refused(bad):
    from modelcard.serving import ServingError, cpu_batch_cap

    if bad is None:
        assert cpu_batch_cap({"cpu_max_batch": None}) is None and cpu_batch_cap({}) is None
        return
    with pytest.raises(ServingError, match="cpu_max_batch"):
        cpu_batch_cap({"cpu_max_batch": bad})


def test_a_card_with_a_malformed_serving_section_does_not_load():
    data = _card()
    for serving in ({"cpu_max_batch": 0}, ["cpu_max_batch", 4]):
        with pytest.raises(CardError, match="serving"):
            ModelCard.from_dict(data | {"serving": serving})


def test_the_cards_cap_holds_on_the_cpu_only():
    from modelcard.serving import card_batch_cap

    assert card_batch_cap({"cpu_max_batch": 4}, provider="CPUExecutionProvider") == 4
    assert card_batch_cap({"cpu_max_batch": 4}, provider="CUDAExecutionProvider") is None
    assert card_batch_cap({}, provider="CPUExecutionProvider") is None
