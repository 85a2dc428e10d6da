"""GalleryRegistry: every gallery under `data_dir/galleries/` (`<name>.sqlite` plus its index snapshot)."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gallery import inputs
from gallery.changelog import FollowerState
from gallery.config import IndexConfig
from gallery.creation import remove_unfinished
from gallery.durable import fsync_directory
from gallery.errors import (
    GalleryError,
    GalleryExists,
    GalleryNotFound,
    GalleryUnavailable,
    InvalidGalleryName,
    StorageError,
    StoreCorrupt,
)
from gallery.gallery import Gallery
from gallery.snapshot import snapshot_files
from gallery.sqlite import database_files
from gallery.storage import StorageHealth, StorageProblem, storage_errors
from gallery.store import GalleryStore
from gallery.types import GalleryInfo, UnavailableGallery

log = logging.getLogger(__name__)
STORE_SUFFIX = ".sqlite"
SNAPSHOT_SUFFIX = ".faiss"


# a gallery set aside for a storage failure is tried again after 5 s, then twice as long after each failure in a
# row, up to 5 minutes: a database that stays stalled is not asked again and again
RETRY_FIRST_S, RETRY_MAX_S = 5.0, 300.0


def retry_delay_s(failures: int) -> float:
    """How long after its `failures`-th failure in a row a gallery's opening is tried again."""
    return min(RETRY_FIRST_S * 2 ** (failures - 1), RETRY_MAX_S)


class GalleryRegistry:
    """Opens, creates and deletes galleries; thread-safe.

    Two locks: `_lock` guards the dicts of galleries alone and is never held while a store is read or written,
    so looking a gallery up (every request does) never waits on a store that hangs; `_writing` puts creates,
    deletes and catalog syncs one after another, across their store I/O.
    """

    def __init__(self, data_dir: Path, *, config: IndexConfig | None = None, **index_options: Any) -> None:
        """The galleries under `data_dir`, indexed as `config` says; scripts and tests may give its fields as
        keywords instead (an unknown one is a ValueError), but not both."""
        if config is not None and index_options:
            raise ValueError(f"give an IndexConfig or its options, not both (got {sorted(index_options)})")
        self.directory = Path(data_dir) / "galleries"
        self.config = config if config is not None else IndexConfig.from_options(**index_options)
        self._galleries: dict[str, Gallery] = {}
        self._unavailable: dict[str, UnavailableGallery] = {}
        self._lock = threading.RLock()
        self._writing = threading.RLock()
        self._storage = StorageHealth()  # the galleries folder: creates and deletes

    def open(self) -> None:
        """Open every gallery found on disk, loading or rebuilding its index, after removing what unfinished
        creates left. A file that cannot be opened is set aside as unavailable; the others open."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with self._writing:
            remove_unfinished(self.directory)
            for path in sorted(self.directory.glob(f"*{STORE_SUFFIX}")):
                name = path.name.removesuffix(STORE_SUFFIX)
                if name not in self._galleries:
                    self._open_or_set_aside(name, path)

    def unavailable(self) -> list[UnavailableGallery]:
        """The gallery files found at start-up that could not be opened, by name."""
        with self._lock:
            return [entry for _, entry in sorted(self._unavailable.items())]

    def close(self) -> None:
        """Close every gallery (writing index snapshots when enabled); raises the first failure after all."""
        with self._lock:
            galleries, self._galleries = list(self._galleries.values()), {}
        failures = []
        for gallery in galleries:
            try:
                gallery.close()
            except Exception as exc:
                log.exception("closing gallery %s failed", gallery.name)
                failures.append(exc)
        if failures:
            raise failures[0]

    def create(
        self,
        name: str,
        *,
        model: str,
        model_sha256: str,
        dim: int,
        metric: str = "l2",
        threshold: float | None = None,
        keep_images: bool = True,
    ) -> Gallery:
        """Create an empty gallery bound to a model (`keep_images` false: it never keeps reference images);
        GalleryExists if the name is taken."""
        inputs.gallery_name(name)
        with self._writing:
            with self._lock:
                if name in self._unavailable:
                    raise GalleryExists(f"{self._unavailable_message(name)}; delete it to reuse the name")
                if name in self._galleries:
                    raise GalleryExists(f"gallery {name!r} already exists")
            if self._stored(name):
                raise GalleryExists(f"gallery {name!r} already exists")
            with self._storage.watch():
                store = self._create_store(
                    name,
                    model=model,
                    model_sha256=model_sha256,
                    dim=dim,
                    metric=metric,
                    threshold=threshold,
                    keep_images=keep_images,
                )
            gallery = Gallery(store, config=self.config, snapshot_path=self._snapshot_path(name))
            with self._lock:
                self._galleries[name] = gallery
        return gallery

    def storage_problems(self, *, probe_interval_s: float) -> dict[str, StorageProblem]:
        """Storage failures that still stand, by gallery name ("" for the galleries folder), after probing
        each (one write that changes nothing, at most once per `probe_interval_s`)."""
        return self._problems(
            lambda: self._storage.probe(self._write_probe_file, min_interval_s=probe_interval_s),
            lambda gallery: gallery.probe_storage(min_interval_s=probe_interval_s),
        )

    def standing_storage_problems(self) -> dict[str, StorageProblem]:
        """The storage failures standing now, as `storage_problems` names them, from memory alone (no probe)."""
        return self._problems(lambda: self._storage.problem, lambda gallery: gallery.storage_problem)

    def _problems(
        self,
        folder: Callable[[], StorageProblem | None],
        each: Callable[[Gallery], StorageProblem | None],
    ) -> dict[str, StorageProblem]:
        """The galleries folder's problem ("") and each gallery's, as `folder` and `each` find them (off the
        lock: a probe writes to the store)."""
        with self._lock:
            galleries = list(self._galleries.items())
        problems = {} if (problem := folder()) is None else {"": problem}
        for name, gallery in galleries:
            if (problem := each(gallery)) is not None:
                problems[name] = problem
        return problems

    def replication(self) -> FollowerState | None:
        """How this process follows other writers of its galleries' store; None: it is their only writer."""
        return None

    def follow_error(self, name: str) -> str | None:
        """Why the gallery could not catch up with other writers' changes at the last try; None when it did."""
        return None

    def get(self, name: str) -> Gallery:
        """The open gallery; GalleryUnavailable for one set aside at start-up, else GalleryNotFound."""
        inputs.gallery_name(name)
        with self._lock:
            gallery = self._galleries.get(name)
            if gallery is None and name in self._unavailable:
                raise GalleryUnavailable(self._unavailable_message(name))
        if gallery is None:
            raise GalleryNotFound(f"gallery {name!r} not found")
        return gallery

    def names(self) -> list[str]:
        """The open galleries' names, sorted (from memory: no store is read)."""
        with self._lock:
            return sorted(self._galleries)

    def list(self) -> list[GalleryInfo]:
        """Every open gallery's info, by name (one deleted meanwhile is left out)."""
        with self._lock:
            galleries = [gallery for _, gallery in sorted(self._galleries.items())]
        infos = []
        for gallery in galleries:
            with contextlib.suppress(GalleryNotFound):
                infos.append(gallery.info)
        return infos

    def delete(self, name: str) -> None:
        """Close a gallery and remove its files (database, WAL, SHM, index snapshot); an unavailable
        gallery's files are removed likewise, which frees its name."""
        with self._writing:
            with self._lock:
                gallery = None if self._unavailable.pop(name, None) is not None else self.get(name)
                if gallery is not None:
                    del self._galleries[name]
            if gallery is not None:
                gallery.close(snapshot=False)
            with self._storage.watch():
                self._remove_store(name)

    def _remove_store(self, name: str) -> None:
        """Remove a closed gallery's files: database, WAL, SHM, index snapshot."""
        with storage_errors(f"deleting gallery {name!r}"):
            for path in database_files(self._store_path(name)) + snapshot_files(self._snapshot_path(name)):
                path.unlink(missing_ok=True)
            fsync_directory(self.directory)  # the unlinks survive a power loss once DELETE is answered

    def __contains__(self, name: object) -> bool:
        try:
            self.get(name)  # type: ignore[arg-type]
        except (GalleryNotFound, GalleryUnavailable, InvalidGalleryName):
            return False
        return True

    def _open_or_set_aside(self, name: str, path: Path, *, attempts: int = 1) -> None:
        """Open one gallery (off `_lock`), or after `attempts` failures record why it cannot be opened (logged;
        the start goes on)."""
        for attempt in range(1, attempts + 1):
            try:
                gallery = self._open_one(name, path)
            except Exception as exc:
                if attempt < attempts:
                    continue
                reason = str(exc) or type(exc).__name__
                with self._lock:
                    before = self._unavailable.get(name)
                    failures = 1 if before is None or before.retry_at is None else before.failures + 1
                    retry_at = (
                        time.monotonic() + retry_delay_s(failures) if isinstance(exc, StorageError) else None
                    )
                    self._unavailable[name] = UnavailableGallery(
                        name=name, file=path.name, reason=reason, retry_at=retry_at, failures=failures
                    )
                log.log(
                    logging.ERROR if failures == 1 else logging.WARNING,
                    "gallery file %s is unavailable (%d failure(s) in a row%s): %s",
                    path.name,
                    failures,
                    "" if retry_at is None else f"; tried again in {retry_delay_s(failures):g} s",
                    reason,
                    exc_info=not isinstance(exc, GalleryError),
                )
            else:
                with self._lock:
                    self._galleries[name] = gallery
                    self._unavailable.pop(name, None)
                return

    def _due_again(self, name: str) -> bool:
        """(under `_lock`) The gallery was set aside for a failure of the storage's own, and its next try is
        due."""
        entry = self._unavailable.get(name)
        return entry is not None and entry.retry_at is not None and time.monotonic() >= entry.retry_at

    def _unavailable_message(self, name: str) -> str:
        entry = self._unavailable[name]
        return f"gallery {name!r} is unavailable: its file {entry.file} could not be opened ({entry.reason})"

    def _open_one(self, name: str, path: Path) -> Gallery:
        try:
            inputs.gallery_name(name)
        except InvalidGalleryName as exc:
            raise StoreCorrupt(f"{path} is not named like a gallery: {exc}") from exc
        store = GalleryStore.open(path)
        if store.meta.name != name:
            store.close()
            raise StoreCorrupt(f"{path.name} holds gallery {store.meta.name!r}, not {name!r}")
        return Gallery(store, config=self.config, snapshot_path=self._snapshot_path(name))

    def _stored(self, name: str) -> bool:
        """A store of that name exists, open here or not (a file left in the galleries folder)."""
        return self._store_path(name).exists()

    def _store_path(self, name: str) -> Path:
        return self.directory / f"{name}{STORE_SUFFIX}"

    def _snapshot_path(self, name: str) -> Path:
        return self.directory / f"{name}{SNAPSHOT_SUFFIX}"

    def _create_store(self, name: str, **fields: Any) -> GalleryStore:
        with storage_errors(f"creating gallery {name!r}"):
            self.directory.mkdir(parents=True, exist_ok=True)
            for stale in snapshot_files(self._snapshot_path(name)):
                stale.unlink(missing_ok=True)
        return GalleryStore.create(self._store_path(name), name=name, **fields)

    def _write_probe_file(self) -> None:
        """Write, fsync and remove a page-sized file in the galleries folder."""
        probe = self.directory / ".storage-probe"
        with storage_errors("writing in the galleries folder"):
            try:
                with open(probe, "wb") as handle:
                    handle.write(b"\0" * 4096)
                    handle.flush()
                    os.fsync(handle.fileno())
            finally:
                probe.unlink(missing_ok=True)
