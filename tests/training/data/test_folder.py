"""Class-per-folder loader on a tiny generated tree."""

from pathlib import Path

import pytest

from training.data.folder import load_folder
from training.data.records import open_image


def test_load_folder_reads_png_jpeg_bmp_in_grey_and_rgb(image_tree: Path):
    records = load_folder(image_tree)
    assert len(records) == 7
    modes = {open_image(r).mode for r in records}
    assert {"L", "RGB"} <= modes
    assert all(open_image(r).size == (12, 10) for r in records)


def test_load_folder_skips_hidden_files_hidden_folders_and_non_images(image_tree: Path):
    names = {Path(r.source).name for r in load_folder(image_tree)}
    assert ".hidden.png" not in names and "notes.txt" not in names and "x.png" not in names
    assert {r.label for r in load_folder(image_tree)} == {"cats", "dogs", "owls"}


def test_load_folder_matches_suffixes_case_insensitively(image_tree: Path):
    names = {Path(r.source).name for r in load_folder(image_tree)}
    assert {"c.BMP", "z.JPG"} <= names


def test_load_folder_without_group_labels_by_class_and_groups_by_root_name(image_tree: Path):
    records = load_folder(image_tree)
    assert records[0].label == "cats" and {r.group for r in records} == {"pets"}


def test_load_folder_with_group_prefixes_labels_and_sets_group(image_tree: Path):
    records = load_folder(image_tree, group="zoo")
    assert {r.label for r in records} == {"zoo/cats", "zoo/dogs", "zoo/owls"}
    assert {r.group for r in records} == {"zoo"}


def test_load_folder_is_sorted_by_class_then_file(image_tree: Path):
    records = load_folder(image_tree)
    keys = [(r.label, Path(r.source).name) for r in records]
    assert keys == sorted(keys) and records == load_folder(image_tree)


def test_load_folder_custom_extensions_keep_only_those(image_tree: Path):
    records = load_folder(image_tree, extensions=["png", ".BMP"])
    assert sorted(Path(r.source).suffix.lower() for r in records) == [".bmp", ".bmp", ".png", ".png"]


def test_load_folder_tree_without_images_raises_value_error(tmp_path: Path):
    (tmp_path / "empty_class").mkdir()
    (tmp_path / "empty_class" / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match="no images"):
        load_folder(tmp_path)


def test_load_folder_missing_root_raises_value_error(tmp_path: Path):
    with pytest.raises(ValueError, match="does not exist"):
        load_folder(tmp_path / "missing")


def test_load_folder_extensions_given_as_one_string_raises_value_error(image_tree: Path):
    with pytest.raises(ValueError, match="collection"):
        load_folder(image_tree, extensions=".png")
