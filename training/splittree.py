"""A recipe's split as class-per-folder trees of links to the images, so that the service can be checked over
HTTP on exactly the held-out images (e.g. `python -m bench.openset --images <out>/known --stranger-images
<out>/novel`): `<out>/known/<class>/` holds one part's images of the classes training saw, `<out>/novel/<class>/`
those of classes it never saw. Class names put `__` for `/`; files keep their names.

Run: `python -m training.splittree --recipe defects --part test --out /tmp/defects-test`
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path

from training.data.records import Record
from training.data.splits import Split

PARTS = ("train", "val", "test")


def link_tree(split: Split, part: str, out: Path) -> dict[str, dict[str, int]]:
    """Link `part`'s images under out/known and out/novel; refuses images inside archives and a non-empty
    `out`. Returns {"known" | "novel": {class folder: images}}."""
    if part not in PARTS:
        raise ValueError(f"part must be one of {PARTS}, got {part!r}")
    if out.exists() and any(out.iterdir()):
        raise ValueError(f"{out} is not empty")
    trained = {r.label for r in split.train}
    counts: dict[str, dict[str, int]] = {"known": {}, "novel": {}}
    records: list[Record] = getattr(split, part)
    for record in records:
        if "::" in record.source or record.rotate:
            raise ValueError(f"{record.source}: only plain image files (no archives, no rotated copies) link")
        kind = "known" if record.label in trained else "novel"
        folder = record.label.replace("/", "__")
        target = out / kind / folder
        target.mkdir(parents=True, exist_ok=True)
        os.symlink(Path(record.source).resolve(), target / Path(record.source).name)
        counts[kind][folder] = counts[kind].get(folder, 0) + 1
    return counts


def main(argv: Sequence[str] | None = None) -> None:
    from training.recipes import RECIPES, load_records, make_split, recipe_config

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--recipe", choices=RECIPES, required=True)
    p.add_argument("--part", choices=PARTS, default="test")
    p.add_argument("--data-root", default="../shared/data")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    cfg = recipe_config(args.recipe)
    data = dataclasses.replace(cfg.data, data_root=args.data_root)
    for kind, classes in link_tree(make_split(load_records(data), data), args.part, args.out).items():
        print(f"{kind}: {sum(classes.values())} images in {len(classes)} classes under {args.out / kind}")


if __name__ == "__main__":
    main()
