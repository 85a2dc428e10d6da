"""Storage failures on real files: a full disk (a real small tmpfs) and a file-size limit (RLIMIT_FSIZE in a
subprocess) raise StorageFull / StorageError, leave no file behind, lose nothing acknowledged, and writes
succeed again once there is room, on the same open gallery."""

from __future__ import annotations

import errno
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from gallery import GalleryRegistry
from gallery.errors import StorageError, StorageFull
from gallery.storage import classify
from tests.support.disk import fill

ROOT = Path(__file__).resolve().parents[2]


def _files(directory: Path, name: str) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(name))


def test_create_on_full_disk_raises_storage_full_and_leaves_no_file(full_disk_dir, model_sha, dim):
    registry = GalleryRegistry(full_disk_dir)
    registry.open()
    try:
        filler = fill(full_disk_dir)
        with pytest.raises(StorageFull, match="other"):
            registry.create("other", model="faces", model_sha256=model_sha, dim=dim)
        assert _files(registry.directory, "other") == [] and "other" not in registry
        filler.unlink()
        assert registry.create("other", model="faces", model_sha256=model_sha, dim=dim).info.references == 0
    finally:
        registry.close()


def test_add_on_full_disk_raises_storage_full_then_succeeds_once_space_is_back(
    full_disk_dir, model_sha, dim, unit_vectors, shas
):
    registry = GalleryRegistry(full_disk_dir)
    registry.open()
    gallery = registry.create("faces", model="faces", model_sha256=model_sha, dim=dim)
    vectors, pad = unit_vectors(40), {"pad": "x" * 4000}
    acknowledged = {
        f"p-{i}": gallery.add(f"p-{i}", vectors[i : i + 1], image_sha256s=shas(1)) for i in range(3)
    }
    filler = fill(full_disk_dir)
    failed = None
    for i in range(3, 39):  # the WAL may still have room for a few
        try:
            acknowledged[f"p-{i}"] = gallery.add(
                f"p-{i}", vectors[i : i + 1], image_sha256s=shas(1), metadata=pad
            )
        except StorageFull:
            failed = f"p-{i}"
            break
    assert failed is not None, "a full disk took every write"
    assert gallery.search(vectors[:1], top_k=1)[0][0].identity == "p-0"  # reads go on
    filler.unlink()
    acknowledged["later"] = gallery.add("later", vectors[39:40], image_sha256s=shas(1), metadata=pad)
    registry.close()
    reopened = GalleryRegistry(full_disk_dir)
    reopened.open()
    try:
        _, page = reopened.get("faces").list_identities(offset=0, limit=100)
    finally:
        reopened.close()
    assert {s.identity for s in page} == set(acknowledged) and failed not in {s.identity for s in page}
    assert sum(s.references for s in page) == len(acknowledged)


def test_file_size_limit_on_create_and_add_raises_storage_error_without_leftovers(tmp_path):
    """The same through RLIMIT_FSIZE, which needs no mount: SQLite reports the refused write as an I/O error."""
    child = subprocess.run(
        [sys.executable, "-c", FSIZE_CHILD, str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == 0, child.stderr
    report = json.loads(child.stdout.strip().splitlines()[-1])
    assert report["create"] in {"storage_error", "storage_full"} and report["left"] == []
    assert report["add"] in {"storage_error", "storage_full"}
    assert report["after"] == {"references": 2, "create": "ok"}


FSIZE_CHILD = r"""
import json, resource, signal, sys
from pathlib import Path
import numpy as np
from gallery import GalleryRegistry
from gallery.errors import GalleryError

registry = GalleryRegistry(Path(sys.argv[1]))
registry.open()
gallery = registry.create("faces", model="faces", model_sha256="a" * 64, dim=4)
gallery.add("alice", np.eye(4, dtype=np.float32)[:1], image_sha256s=["b" * 64])
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a refused write returns EFBIG instead of killing us
soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
resource.setrlimit(resource.RLIMIT_FSIZE, (8192, hard))
report = {}
def code(call):
    try:
        call()
    except GalleryError as exc:
        return exc.code
    return "ok"
report["create"] = code(lambda: registry.create("other", model="faces", model_sha256="a" * 64, dim=4))
report["left"] = sorted(p.name for p in registry.directory.iterdir() if p.name.startswith("other"))
big = {"pad": "x" * 200_000}
report["add"] = code(lambda: gallery.add("bob", np.eye(4, dtype=np.float32)[1:2], image_sha256s=["c" * 64], metadata=big))
resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
gallery.add("carol", np.eye(4, dtype=np.float32)[2:3], image_sha256s=["d" * 64], metadata=big)
report["after"] = {
    "references": gallery.info.references,
    "create": code(lambda: registry.create("other", model="faces", model_sha256="a" * 64, dim=4)),
}
registry.close()
print(json.dumps(report))
"""


@pytest.mark.parametrize(
    ("exc", "named"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), StorageFull),
        (OSError(errno.EDQUOT, "Disk quota exceeded"), StorageFull),
        (OSError(errno.EIO, "Input/output error"), StorageError),
        (OSError(errno.EROFS, "Read-only file system"), StorageError),
    ],
)
def test_classify_os_errors_by_errno(exc, named):
    assert type(classify(exc, where="test")) is named


def test_classify_leaves_constraint_violations_alone(tmp_path):
    conn = sqlite3.connect(tmp_path / "x.sqlite")
    conn.execute("CREATE TABLE t (k INTEGER PRIMARY KEY)")
    conn.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(sqlite3.IntegrityError) as caught:
        conn.execute("INSERT INTO t VALUES (1)")
    conn.close()
    assert classify(caught.value, where="test") is None


def test_storage_health_records_storage_failures_until_a_write_succeeds():
    from gallery.errors import IdentityNotFound
    from gallery.storage import StorageHealth

    health = StorageHealth()
    with pytest.raises(StorageFull), health.watch():
        raise StorageFull("writing gallery 'faces': the disk is full")
    assert health.problem.code == "storage_full" and "faces" in health.problem.message
    with pytest.raises(IdentityNotFound), health.watch():  # says nothing about the storage
        raise IdentityNotFound("nobody")
    assert health.problem is not None
    first = health.problem

    def still_full() -> None:
        raise StorageError("probe: I/O error")

    assert health.probe(still_full, min_interval_s=0) == first  # the problem as first seen
    assert health.probe(lambda: None, min_interval_s=3600) == first  # not due yet: no write tried
    assert health.probe(lambda: None, min_interval_s=0) is None
    with health.watch():
        pass
    assert health.problem is None
