"""A real small disk for full-disk tests: a tmpfs mounted for the test (root only), filled to the last byte."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHUNKS = (1 << 16, 4096, 512, 1)  # fill with big writes, then smaller ones up to the last free byte


@contextmanager
def small_tmpfs(directory: Path, *, size: str = "4m") -> Iterator[Path]:
    """Mount a tmpfs of `size` on `directory` for the block; the test is skipped where that is not allowed."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("a full-disk test mounts a small tmpfs, which needs root and mount(8)")
    directory.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(directory)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip() or mounted.returncode}")
    try:
        yield directory
    finally:
        subprocess.run(["umount", str(directory)], check=True)


def fill(directory: Path) -> Path:
    """Write a file in `directory` until the file system has no byte left; returns it (delete it to free)."""
    path = directory / "filler"
    with path.open("wb", buffering=0) as handle:
        for chunk in CHUNKS:
            block = b"\0" * chunk
            try:
                while True:
                    handle.write(block)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
    return path
