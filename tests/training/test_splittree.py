"""training.splittree: one part of a split as linked class-per-folder trees, known and novel classes apart."""

from __future__ import annotations

import pytest
from PIL import Image

from training.data.records import Record
from training.data.splits import Split
from training.splittree import link_tree


def _records(tmp_path, label: str, n: int) -> list[Record]:
    folder = tmp_path / "data" / label
    folder.mkdir(parents=True)
    out = []
    for i in range(n):
        Image.new("L", (4, 4), i).save(folder / f"{i}.png")
        out.append(Record(source=str(folder / f"{i}.png"), label=label, group=label.split("/")[0]))
    return out


def test_link_tree_puts_known_and_novel_classes_apart_and_links_each_image(tmp_path):
    a, b, n = _records(tmp_path, "s/a", 4), _records(tmp_path, "s/b", 3), _records(tmp_path, "s/n", 2)
    split = Split(train=a[:2] + b[:1], val=[], test=a[2:] + b[1:] + n)
    counts = link_tree(split, "test", tmp_path / "out")
    assert counts == {"known": {"s__a": 2, "s__b": 2}, "novel": {"s__n": 2}}
    linked = sorted((tmp_path / "out").rglob("*.png"))
    assert len(linked) == 6 and all(p.is_symlink() for p in linked)
    assert (tmp_path / "out/novel/s__n/1.png").resolve() == (tmp_path / "data/s/n/1.png").resolve()


def test_link_tree_refuses_a_non_empty_folder_and_archive_members(tmp_path):
    a = _records(tmp_path, "s/a", 2)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    with pytest.raises(ValueError, match="not empty"):
        link_tree(Split(train=a, val=[], test=a), "test", tmp_path / "full")
    zipped = [Record(source="x.zip::a/1.png", label="s/a", group="s")]
    with pytest.raises(ValueError, match="plain image files"):
        link_tree(Split(train=zipped, val=[], test=zipped), "test", tmp_path / "out")
