"""Load Omniglot straight from its official zip (`images_background.zip` or `images_evaluation.zip`)."""

from __future__ import annotations

import zipfile
from pathlib import Path, PurePosixPath

from training.data.records import ZIP_SEP, Record

TOP_FOLDERS = ("images_background", "images_evaluation")


def _member_record(zip_path: str, member: str) -> Record | None:
    """The record for `<top>/<Alphabet>/<character>/<drawing>.png`, or None for anything else."""
    parts = PurePosixPath(member).parts
    if len(parts) != 4 or parts[0] not in TOP_FOLDERS or not parts[3].lower().endswith(".png"):
        return None
    if any(part.startswith(".") for part in parts):
        return None
    _, alphabet, character, _ = parts
    return Record(f"{zip_path}{ZIP_SEP}{member}", f"{alphabet}/{character}", alphabet)


def load_omniglot_zip(zip_path: Path) -> list[Record]:
    """Return one record per drawing, sorted; label "Alphabet/characterNN", group "Alphabet".

    Images stay inside the zip (Record.source is "<zip>::<member>"). No checksum is verified, so
    faithful repacks of the official archives load too.
    """
    zip_path = Path(zip_path)
    if zip_path.suffix.lower() != ".zip":
        raise ValueError(f"{zip_path} is not a .zip file")
    if not zip_path.is_file():
        raise ValueError(f"Omniglot zip {zip_path} does not exist")
    try:
        with zipfile.ZipFile(zip_path) as archive:
            members = archive.namelist()
    except zipfile.BadZipFile as exc:
        raise ValueError(f"{zip_path} is not a readable zip archive: {exc}") from exc
    found = (_member_record(str(zip_path), m) for m in members if not m.endswith("/"))
    records = sorted((r for r in found if r is not None), key=lambda r: r.source)
    if not records:
        raise ValueError(
            f"no Omniglot drawings in {zip_path}: expected {TOP_FOLDERS[0]}/<Alphabet>/<char>/*.png"
        )
    return records
