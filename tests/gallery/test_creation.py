"""Gallery creation is atomic: a process killed (SIGKILL) at any point of a create leaves either no gallery
or a complete one, and the next open starts cleanly, with the other galleries intact."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from gallery import GalleryRegistry
from gallery.creation import creating_path, remove_unfinished

ROOT = Path(__file__).resolve().parents[2]
# Creates `kept` with one reference, then `faces`, stopping forever at the point named in argv[1].
CHILD = r"""
import os, sys, time
from pathlib import Path
import numpy as np
import gallery.creation as creation
from gallery import GalleryRegistry

point, data_dir = sys.argv[1], Path(sys.argv[2])

def stop_here():
    print("stopped", flush=True)
    time.sleep(600)

def after(func):
    def wrapped(*args, **kwargs):
        func(*args, **kwargs)
        stop_here()
    return wrapped

def before(func):
    def wrapped(*args, **kwargs):
        stop_here()
    return wrapped

registry = GalleryRegistry(data_dir)
registry.open()
kept = registry.create("kept", model="faces", model_sha256="a" * 64, dim=4)
kept.add("alice", np.eye(4, dtype=np.float32)[:1], image_sha256s=["b" * 64])
if point == "schema-written":  # inside the one transaction, before its COMMIT
    creation.create_schema = after(creation.create_schema)
elif point == "committed":  # the temporary file is complete, not yet renamed
    os.replace = before(os.replace)
elif point == "renamed":  # renamed into place, the directory not yet fsynced
    creation.fsync_directory = after(lambda directory: None)

registry.create("faces", model="faces", model_sha256="a" * 64, dim=4)
print("finished", flush=True)
"""


def _kill_at(point: str, data_dir: Path) -> None:
    """Run CHILD until it stops at `point`, then SIGKILL it."""
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, point, str(data_dir)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        line = child.stdout.readline().strip() if child.stdout else ""
        assert line == "stopped", f"the child did not reach {point!r} (said {line!r})"
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


@pytest.mark.parametrize(
    ("point", "left_behind", "faces_exists"),
    [
        ("schema-written", {"faces.sqlite.creating", "faces.sqlite.creating-journal"}, False),
        ("committed", {"faces.sqlite.creating"}, False),
        ("renamed", set(), True),
    ],
)
def test_kill_during_create_leaves_no_gallery_or_a_whole_one_and_open_succeeds(
    tmp_path, point, left_behind, faces_exists
):
    _kill_at(point, tmp_path)
    directory = tmp_path / "galleries"
    assert {p.name for p in directory.glob("faces*")} - {"faces.sqlite"} >= left_behind  # killed mid-create
    registry = GalleryRegistry(tmp_path)
    registry.open()
    try:
        assert registry.unavailable() == []
        assert not list(directory.glob("*.creating*"))
        assert registry.get("kept").info.references == 1
        assert ("faces" in registry) is faces_exists
        if faces_exists:
            assert registry.get("faces").info.references == 0
        else:
            registry.create("faces", model="faces", model_sha256="a" * 64, dim=4)
        assert registry.get("faces").meta.dim == 4
    finally:
        registry.close()


def test_remove_unfinished_deletes_only_temporary_files(tmp_path, registry, gallery):
    directory = registry.directory
    leftovers = [creating_path(directory / "other.sqlite"), directory / "other.sqlite.creating-journal"]
    for path in leftovers:
        path.write_bytes(b"half a gallery")
    assert remove_unfinished(directory) == sorted(p.name for p in leftovers)
    assert {p.name for p in directory.iterdir()} == {"faces.sqlite", "faces.sqlite-wal", "faces.sqlite-shm"}
