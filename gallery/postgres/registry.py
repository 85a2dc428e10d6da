"""PostgresRegistry: the galleries of a PostgreSQL catalog, each with its FAISS index derived in this process
(index snapshots stay on local disk under `data_dir/galleries/`, a cache any replica may lose)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from gallery import inputs
from gallery.changelog import FollowerState
from gallery.config import IndexConfig
from gallery.errors import GalleryNotFound, InvalidGalleryName, StoreCorrupt
from gallery.gallery import Gallery
from gallery.postgres import changes
from gallery.postgres.connection import (
    READ_DEADLINE_S,
    WRITE_DEADLINE_S,
    Pool,
    writing,
)
from gallery.postgres.follower import FollowConfig, Follower
from gallery.postgres.store import PostgresStore, catalog, ensure_catalog, lock_gallery
from gallery.registry import GalleryRegistry
from gallery.snapshot import snapshot_files
from gallery.sqlite import utc_now
from gallery.storage import storage_errors

log = logging.getLogger(__name__)


class PostgresRegistry(GalleryRegistry):
    """GalleryRegistry over the galleries stored in the PostgreSQL database at `url`."""

    def __init__(
        self,
        data_dir: Path,
        url: str,
        *,
        config: IndexConfig | None = None,
        follow: FollowConfig | None = None,
        pool_size: int = 8,
        write_deadline_s: float | None = WRITE_DEADLINE_S,
        read_deadline_s: float | None = READ_DEADLINE_S,
        **index_options: Any,
    ) -> None:
        """`follow`: how the galleries keep in step with the other replicas' writes (`Follower`);
        `pool_size`: the most connections the galleries hold open at once (the change log's listener and a
        running model migration's lease hold one more each); `write_deadline_s`: how long one write
        transaction may wait on the server before its connection is cut (None: for ever); `read_deadline_s`:
        the same for each statement of a read."""
        super().__init__(data_dir, config=config, **index_options)
        self.url = url
        self.pool_size = pool_size
        self.write_deadline_s = write_deadline_s
        self.read_deadline_s = read_deadline_s
        self._pool: Pool | None = None  # from `open` to `close`
        self._follow_errors: dict[str, str] = {}  # gallery name -> why its last catch-up failed
        self.follower = Follower(url, sync_catalog=self.sync_catalog, catch_up=self.catch_up, config=follow)

    def open(self) -> None:
        """Open every gallery in the catalog (creating the catalog on first use); one that cannot be opened
        is set aside as unavailable, the others open."""
        self.directory.mkdir(parents=True, exist_ok=True)
        if self._pool is None:
            self._pool = Pool(
                self.url,
                max_size=self.pool_size,
                write_deadline_s=self.write_deadline_s,
                read_deadline_s=self.read_deadline_s,
            )
        with writing(
            self._source, where="creating the gallery catalog", seconds=self.write_deadline_s
        ) as conn:
            ensure_catalog(conn)
        with self._writing:
            for name, schema in catalog(self._source):
                if name not in self._galleries:
                    self._open_or_set_aside(name, Path(schema))
        self.follower.start()

    def close(self) -> None:
        self.follower.stop()
        try:
            super().close()
        finally:
            pool, self._pool = self._pool, None
            if pool is not None:
                pool.close()

    @property
    def _source(self) -> str | Pool:
        """Where connections come from: the pool once open, else the URL."""
        return self._pool if self._pool is not None else self.url

    def sync_catalog(self) -> None:
        """Open the galleries other replicas created and close the ones they deleted (or deleted and created
        again: another schema under the same name), as the catalog says now."""
        # one after this process's creates and deletes, so the catalog read agrees with them; the catalog is
        # read, and galleries closed and opened, off `_lock`: lookups never wait on the database
        with self._writing:
            rows = dict(catalog(self._source))
            with self._lock:
                gone = [
                    (name, gallery)
                    for name, gallery in self._galleries.items()
                    if rows.get(name) != gallery.store.schema  # type: ignore[attr-defined]
                ]
                for name, _ in gone:
                    del self._galleries[name]
                for name, entry in list(self._unavailable.items()):
                    if rows.get(name) != entry.file:
                        del self._unavailable[name]
                # and those set aside for a failure of the database's own (it stalled, it was unreachable), once
                # their next try is due (`retry_delay_s`): they answer 503 gallery_unavailable meanwhile
                wanted = {
                    n: s
                    for n, s in rows.items()
                    if n not in self._galleries and (n not in self._unavailable or self._due_again(n))
                }
            for name, gallery in gone:
                gallery.close(snapshot=False)
                self._forget_snapshot(name)
                log.info("gallery %s: deleted by another replica", name)
            for name, schema in wanted.items():
                if self.follower.stopping:
                    break
                self._open_or_set_aside(name, Path(schema), attempts=1 if name in self._unavailable else 2)
                if name in self._galleries:
                    log.info("gallery %s: created by another replica", name)

    def catch_up(self, schema: str | None = None) -> None:
        """Catch the gallery stored in `schema` up with the change log (None: every open gallery)."""
        with self._lock:
            galleries = [
                g
                for g in self._galleries.values()
                if schema is None or g.store.schema == schema  # type: ignore[attr-defined]
            ]
        for gallery in galleries:
            name = gallery.name
            try:
                gallery.catch_up()
            except GalleryNotFound:
                continue  # deleted meanwhile; the catalog's notification closes it
            except Exception as exc:  # this gallery stays behind (named in /ready); the others go on
                if self._follow_errors.get(name) is None:
                    log.error("gallery %s: cannot catch up with the change log: %s", name, exc)
                self._follow_errors[name] = str(exc) or type(exc).__name__
            else:
                self._follow_errors.pop(name, None)

    def follow_error(self, name: str) -> str | None:
        """Why the gallery could not catch up with the change log at the last try; None when it did."""
        return self._follow_errors.get(name)

    def replication(self) -> FollowerState:
        """Whether this replica follows the change log now, and since when it has been in step."""
        return self.follower.state

    def _open_one(self, name: str, path: Path) -> Gallery:
        try:
            inputs.gallery_name(name)
        except InvalidGalleryName as exc:
            raise StoreCorrupt(f"catalog row {name!r} is not named like a gallery: {exc}") from exc
        store = PostgresStore.open(self.url, name, pool=self._pool)
        if store.meta.name != name:
            store.close()
            raise StoreCorrupt(f"{store.label} holds gallery {store.meta.name!r}, not {name!r}")
        return Gallery(store, config=self.config, snapshot_path=self._snapshot_path(name))

    def _stored(self, name: str) -> bool:
        return False  # the catalog decides, in the transaction that creates (GalleryExists there)

    def _create_store(self, name: str, **fields: Any) -> PostgresStore:  # type: ignore[override]
        with storage_errors(f"creating gallery {name!r}"):
            self.directory.mkdir(parents=True, exist_ok=True)
            for stale in snapshot_files(self._snapshot_path(name)):
                stale.unlink(missing_ok=True)
        return PostgresStore.create(self.url, name=name, pool=self._pool, **fields)

    def _remove_store(self, name: str) -> None:
        """Drop the gallery's schema and catalog row in one transaction, then its local index snapshot."""
        with writing(self._source, where=f"deleting gallery {name!r}", seconds=self.write_deadline_s) as conn:
            ensure_catalog(conn)
            row = conn.execute("DELETE FROM sg_galleries WHERE name = ? RETURNING schema_name", (name,))
            found = row.fetchone()  # None: another replica deleted it first, which is what was asked
            if found is not None:
                # after every write in flight (each holds the gallery's lock from its first statement): a DROP
                # that took some of the gallery's tables while a write held others would deadlock with it
                lock_gallery(conn, found[0])
                conn.execute(f'DROP SCHEMA IF EXISTS "{found[0]}" CASCADE')
                changes.forget(conn, found[0])
        self._forget_snapshot(name)

    def _forget_snapshot(self, name: str) -> None:
        with storage_errors(f"deleting gallery {name!r}"):
            for path in snapshot_files(self._snapshot_path(name)):
                path.unlink(missing_ok=True)

    def _write_probe_file(self) -> None:
        """One committed write that changes nothing anyone reads: the catalog's probe row rewritten."""
        with writing(
            self._source, where="writing the gallery catalog", seconds=self.write_deadline_s
        ) as conn:
            conn.execute(
                "INSERT INTO sg_probe (id, at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET at = excluded.at",
                (utc_now(),),
            )
