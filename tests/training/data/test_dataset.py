"""ImageDataset: decode once, serve float32 CHW tensors; un-augmented items are the serving preprocessing."""

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from modelcard import InputSpec, preprocess
from training.data.augment import AugmentConfig
from training.data.dataset import ImageDataset, working_size
from training.data.folder import load_folder
from training.data.records import open_image

GREY = InputSpec(height=8, width=6, channels=1, mean=(0.5,), std=(0.25,), invert=True)
RGB = InputSpec(
    height=8, width=8, channels=3, mean=(0.4, 0.5, 0.6), std=(0.2, 0.3, 0.4), resize="center_crop"
)
STILL = AugmentConfig(rotation=0.0, shear=0.0, scale=(1.0, 1.0), translate=0.0)
STRONG = AugmentConfig(rotation=20.0, p_affine=1.0, hflip=True, brightness=0.2)


@pytest.mark.parametrize("spec", [GREY, RGB], ids=["grey", "rgb"])
def test_image_dataset_items_are_float32_chw_tensors_with_int_labels(image_tree: Path, spec: InputSpec):
    ds = ImageDataset(load_folder(image_tree), spec)
    x, y = ds[3]
    assert len(ds) == 7 and x.dtype == torch.float32 and x.shape == (spec.channels, spec.height, spec.width)
    assert isinstance(y, int)


def test_image_dataset_classes_are_sorted_labels_and_labels_index_them(image_tree: Path):
    records = load_folder(image_tree)[::-1]
    ds = ImageDataset(records, GREY)
    assert ds.classes == ["cats", "dogs", "owls"]
    assert [ds.classes[y] for y in ds.labels] == [r.label for r in records]


def test_image_dataset_given_classes_fix_the_label_order(image_tree: Path):
    ds = ImageDataset(load_folder(image_tree), GREY, classes=["owls", "dogs", "cats", "newts"])
    assert ds.labels[0] == 2 and ds[len(ds) - 1][1] == 0


def test_image_dataset_label_missing_from_classes_raises_value_error(image_tree: Path):
    with pytest.raises(ValueError, match="not in classes"):
        ImageDataset(load_folder(image_tree), GREY, classes=["cats", "dogs"])


@pytest.mark.parametrize("spec", [GREY, RGB], ids=["grey", "rgb"])
def test_image_dataset_plain_item_equals_modelcard_preprocess_bit_for_bit(image_tree: Path, spec: InputSpec):
    records = load_folder(image_tree)
    ds = ImageDataset(records, spec, threads=2)
    for i, record in enumerate(records):
        assert np.array_equal(ds[i][0].numpy(), preprocess(open_image(record), spec))


def test_image_dataset_serves_items_after_the_files_are_gone(image_tree: Path, tmp_path: Path):
    copy = shutil.copytree(image_tree, tmp_path / "copy")
    plain, augmented = (
        ImageDataset(load_folder(copy), GREY),
        ImageDataset(load_folder(copy), GREY, augment=STRONG),
    )
    shutil.rmtree(copy)
    assert plain[0][0].shape == augmented[6][0].shape == (1, 8, 6)


def test_image_dataset_identity_augment_equals_plain_item_for_small_images(image_tree: Path):
    records = load_folder(image_tree)
    plain, still = ImageDataset(records, RGB), ImageDataset(records, RGB, augment=STILL)
    for i in range(len(records)):
        assert torch.equal(plain[i][0], still[i][0])


def test_image_dataset_augmented_exif_rotated_jpeg_keeps_serving_orientation(
    tmp_path: Path, make_image: Callable[..., Image.Image]
):
    (tmp_path / "cls").mkdir()
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: rotate 90 degrees on display
    make_image("L", (10, 6), 4).save(tmp_path / "cls" / "sideways.jpg", exif=exif.tobytes())
    spec = InputSpec(height=10, width=6, channels=1, mean=(0.0,), std=(1.0,))
    records = load_folder(tmp_path)
    assert open_image(records[0]).size == (6, 10)  # decoded upright, as the service decodes it
    assert torch.equal(ImageDataset(records, spec)[0][0], ImageDataset(records, spec, augment=STILL)[0][0])


def test_image_dataset_augmented_items_repeat_within_an_epoch_and_change_across_epochs(image_tree: Path):
    ds = ImageDataset(load_folder(image_tree), GREY, augment=STRONG, seed=1)
    first = ds[2][0]
    assert torch.equal(first, ds[2][0])
    ds.set_epoch(1)
    assert not torch.equal(first, ds[2][0])
    again = ImageDataset(load_folder(image_tree), GREY, augment=STRONG, seed=1)
    again.set_epoch(1)
    assert torch.equal(ds[2][0], again[2][0])


def test_image_dataset_without_records_is_empty():
    ds = ImageDataset([], GREY)
    assert len(ds) == 0 and ds.classes == [] and ds.labels == []


def test_image_dataset_out_of_range_index_raises_index_error():
    with pytest.raises(IndexError):
        ImageDataset([], GREY)[0]


def test_image_dataset_batches_through_a_dataloader(image_tree: Path):
    ds = ImageDataset(load_folder(image_tree), RGB, augment=STRONG)
    x, y = next(iter(torch.utils.data.DataLoader(ds, batch_size=4)))
    assert x.shape == (4, 3, 8, 8) and y.tolist() == ds.labels[:4]


def test_image_dataset_set_epoch_rejects_negative_epoch():
    with pytest.raises(ValueError, match="epoch"):
        ImageDataset([], GREY).set_epoch(-1)


@pytest.mark.parametrize(
    ("resize", "size", "expected"),
    [
        ("stretch", (100, 10), (16, 10)),
        ("pad", (100, 50), (16, 8)),
        ("center_crop", (100, 50), (32, 16)),
        ("pad", (12, 12), (12, 12)),
    ],
)
def test_working_size_caps_sides_near_twice_the_input(
    resize: str, size: tuple[int, int], expected: tuple[int, int]
):
    spec = InputSpec(height=8, width=8, channels=1, mean=(0.5,), std=(0.5,), resize=resize)
    assert working_size(size, spec) == expected


@pytest.mark.parametrize("augment", [None, STRONG], ids=["plain", "augmented"])
def test_image_dataset_stack_equals_stacked_items(image_tree: Path, augment: AugmentConfig | None):
    ds = ImageDataset(load_folder(image_tree), RGB, augment=augment)
    batch = ds.stack([4, 0, 4])
    assert batch.shape == (3, 3, 8, 8) and torch.equal(batch, torch.stack([ds[4][0], ds[0][0], ds[4][0]]))


def test_image_dataset_stack_of_no_indices_is_an_empty_batch(image_tree: Path):
    assert ImageDataset(load_folder(image_tree), GREY).stack([]).shape == (0, 1, 8, 6)


def test_image_dataset_plain_cache_holds_one_byte_per_pixel_and_channel(image_tree: Path):
    grey, rgb = ImageDataset(load_folder(image_tree), GREY), ImageDataset(load_folder(image_tree), RGB)
    assert grey.cache_bytes == len(grey) * 8 * 6
    assert rgb.cache_bytes == len(rgb) * 3 * 8 * 8
