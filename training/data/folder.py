"""Load any class-per-folder image tree, `<root>/<class>/<image>`, as records."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from training.data.records import Record

IMAGE_EXTENSIONS = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pbm", ".pnm"}
)


def _visible(path: Path) -> bool:
    return not path.name.startswith(".")


def _suffixes(extensions: Collection[str] | None) -> frozenset[str]:
    if extensions is None:
        return IMAGE_EXTENSIONS
    if isinstance(extensions, str):
        raise ValueError("extensions must be a collection of suffixes such as ['.png'], not a string")
    return frozenset(e.lower() if e.startswith(".") else f".{e.lower()}" for e in extensions)


def _class_images(class_dir: Path, suffixes: frozenset[str]) -> list[Path]:
    return sorted(
        p for p in class_dir.iterdir() if _visible(p) and p.is_file() and p.suffix.lower() in suffixes
    )


def load_folder(root: Path, *, group: str = "", extensions: Collection[str] | None = None) -> list[Record]:
    """Return one record per image in `<root>/<class>/<image>`, sorted by class then file name.

    Only files directly inside each class folder count; hidden files and folders (leading ".") and files
    whose suffix is not in `extensions` (default: common formats Pillow reads, any case) are skipped.
    label is "<group>/<class>" when `group` is given, else "<class>"; Record.group is `group` or root's name.
    """
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"dataset folder {root} does not exist or is not a directory")
    suffixes = _suffixes(extensions)
    group_name = group or root.name
    records: list[Record] = []
    for class_dir in sorted(p for p in root.iterdir() if _visible(p) and p.is_dir()):
        label = f"{group}/{class_dir.name}" if group else class_dir.name
        records += [Record(str(p), label, group_name) for p in _class_images(class_dir, suffixes)]
    if not records:
        raise ValueError(
            f"no images found in {root}: expected <root>/<class>/<image> with {sorted(suffixes)}"
        )
    return records
