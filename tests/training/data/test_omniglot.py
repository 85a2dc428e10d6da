"""Omniglot zip loader on a tiny generated archive, and on the real background set when present."""

import io
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from training.data.omniglot import load_omniglot_zip
from training.data.records import open_image


def _png(value: int) -> bytes:
    buf = io.BytesIO()
    Image.new("1", (6, 5), value).save(buf, format="PNG")
    return buf.getvalue()


def _write_zip(path: Path, top: str) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{top}/", b"")
        for alphabet, n_chars in (("Greek", 2), ("Latin", 3)):
            archive.writestr(f"{top}/{alphabet}/", b"")
            for c in range(1, n_chars + 1):
                for drawer in (1, 2):
                    archive.writestr(
                        f"{top}/{alphabet}/character{c:02d}/0{c}_{drawer:02d}.png", _png(drawer - 1)
                    )
        archive.writestr(f"{top}/Greek/character01/notes.txt", b"not a drawing")
        archive.writestr(f"__MACOSX/{top}/Greek/character01/._01_01.png", b"resource fork")
    return path


def test_load_omniglot_zip_labels_characters_within_alphabets(tmp_path: Path):
    records = load_omniglot_zip(_write_zip(tmp_path / "images_background.zip", "images_background"))
    assert len(records) == 10
    assert {r.group for r in records} == {"Greek", "Latin"}
    assert len({r.label for r in records}) == 5 and records[0].label == "Greek/character01"


def test_load_omniglot_zip_records_decode_from_inside_the_zip(tmp_path: Path):
    zip_path = _write_zip(tmp_path / "images_background.zip", "images_background")
    record = load_omniglot_zip(zip_path)[1]
    assert record.source == f"{zip_path}::images_background/Greek/character01/01_02.png"
    img = open_image(record)
    assert img.size == (6, 5) and img.getpixel((0, 0)) != 0


def test_load_omniglot_zip_accepts_evaluation_archive(tmp_path: Path):
    records = load_omniglot_zip(_write_zip(tmp_path / "images_evaluation.zip", "images_evaluation"))
    assert len(records) == 10 and records == sorted(records, key=lambda r: r.source)


def test_load_omniglot_zip_without_drawings_raises_value_error(tmp_path: Path):
    with zipfile.ZipFile(tmp_path / "empty.zip", "w") as archive:
        archive.writestr("images_background/readme.txt", b"x")
    with pytest.raises(ValueError, match="no Omniglot drawings"):
        load_omniglot_zip(tmp_path / "empty.zip")


def test_load_omniglot_zip_corrupt_archive_raises_value_error(tmp_path: Path):
    (tmp_path / "broken.zip").write_bytes(b"this is not a zip")
    with pytest.raises(ValueError, match="not a readable zip"):
        load_omniglot_zip(tmp_path / "broken.zip")


def test_load_omniglot_zip_background_set_has_30_alphabets_and_964_characters(shared_data: Path):
    zip_path = shared_data / "omniglot" / "images_background.zip"
    if not zip_path.is_file():
        pytest.skip(f"Omniglot background zip not found at {zip_path} (set SG_DATA_ROOT)")
    records = load_omniglot_zip(zip_path)
    assert len({r.group for r in records}) == 30
    assert len({r.label for r in records}) == 964
    assert open_image(records[0]).size == (105, 105)
