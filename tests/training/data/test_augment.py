"""Koch-style augmentation: reproducible, size-preserving, identity at zero magnitude, border fill."""

import random
from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image, ImageDraw

from training.data.augment import AugmentConfig, augment_image, border_fill

MakeImage = Callable[..., Image.Image]
STILL = AugmentConfig(rotation=0.0, shear=0.0, scale=(1.0, 1.0), translate=0.0, p_affine=1.0)
STRONG = AugmentConfig(rotation=30.0, shear=0.3, scale=(0.8, 1.2), translate=0.1, p_affine=1.0)


def _glyph(background: int, ink: int, size: tuple[int, int] = (40, 30)) -> Image.Image:
    img = Image.new("L", size, background)
    ImageDraw.Draw(img).line([(8, 8), (30, 20)], fill=ink, width=3)
    return img


def test_augment_image_same_seed_gives_same_image(make_image: MakeImage):
    img = make_image("RGB", (24, 20), 0)
    cfg = AugmentConfig(hflip=True, crop_jitter=0.1, brightness=0.2, contrast=0.2)
    a = augment_image(img, cfg, random.Random(7))
    b = augment_image(img, cfg, random.Random(7))
    assert np.array_equal(np.asarray(a), np.asarray(b))


def test_augment_image_different_seeds_give_different_images():
    img = _glyph(255, 0)
    outputs = {augment_image(img, STRONG, random.Random(s)).tobytes() for s in range(5)}
    assert len(outputs) == 5


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_augment_image_preserves_size_and_mode(make_image: MakeImage, mode: str):
    img = make_image(mode, (33, 21), 1)
    cfg = AugmentConfig(rotation=20, hflip=True, vflip=True, crop_jitter=0.2, brightness=0.3, contrast=0.3)
    out = augment_image(img, cfg, random.Random(0))
    assert out.size == (33, 21) and out.mode == mode


def test_augment_image_all_magnitudes_zero_is_identity(make_image: MakeImage):
    img = make_image("RGB", (17, 13), 2)
    for seed in range(5):
        assert np.array_equal(np.asarray(augment_image(img, STILL, random.Random(seed))), np.asarray(img))


def test_augment_image_p_affine_zero_skips_the_affine_distortions():
    img = _glyph(255, 0)
    cfg = AugmentConfig(rotation=45.0, shear=0.3, translate=0.3, p_affine=0.0)
    assert augment_image(img, cfg, random.Random(0)).tobytes() == img.tobytes()


def test_augment_image_fills_exposed_corners_with_white_on_white_background():
    out = np.asarray(
        augment_image(_glyph(255, 0), AugmentConfig(rotation=45.0, p_affine=1.0), random.Random(1))
    )
    assert out[0, 0] == out[-1, -1] == out[0, -1] == out[-1, 0] == 255


def test_augment_image_fills_exposed_corners_with_black_on_black_background():
    out = np.asarray(
        augment_image(_glyph(0, 200), AugmentConfig(rotation=45.0, p_affine=1.0), random.Random(1))
    )
    assert out[0, 0] == out[-1, -1] == out[0, -1] == out[-1, 0] == 0


def test_augment_image_hflip_only_returns_original_or_mirror():
    img = _glyph(255, 0)
    cfg = AugmentConfig(rotation=0.0, shear=0.0, scale=(1.0, 1.0), translate=0.0, hflip=True)
    outputs = {augment_image(img, cfg, random.Random(s)).tobytes() for s in range(20)}
    assert outputs == {img.tobytes(), img.transpose(Image.Transpose.FLIP_LEFT_RIGHT).tobytes()}


def test_augment_image_crop_jitter_changes_framing_but_not_size():
    img = _glyph(255, 0)
    cfg = AugmentConfig(rotation=0.0, shear=0.0, scale=(1.0, 1.0), translate=0.0, crop_jitter=0.2)
    out = augment_image(img, cfg, random.Random(3))
    assert out.size == img.size and out.tobytes() != img.tobytes()


def test_augment_image_converts_one_bit_images_to_grey():
    img = Image.new("1", (10, 10), 1)
    assert augment_image(img, STRONG, random.Random(0)).mode == "L"


def test_border_fill_is_the_median_border_colour_per_channel():
    img = Image.new("RGB", (8, 6), (10, 20, 30))
    img.putpixel((0, 0), (255, 255, 255))
    assert border_fill(img) == (10, 20, 30) and border_fill(_glyph(250, 0)) == 250


def test_augment_config_scale_list_becomes_a_tuple():
    assert AugmentConfig(scale=[0.9, 1.1]).scale == (0.9, 1.1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scale": (1.2, 0.8)}, "scale"),
        ({"rotation": -1.0}, "rotation"),
        ({"p_affine": 1.5}, "p_affine"),
        ({"crop_jitter": 0.5}, "crop_jitter"),
    ],
)
def test_augment_config_bad_values_raise_value_error(kwargs: dict, message: str):
    with pytest.raises(ValueError, match=message):
        AugmentConfig(**kwargs)
