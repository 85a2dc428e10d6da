"""PostgresRegistry: the galleries of a PostgreSQL catalog, each with its FAISS index derived in this process
(index snapshots stay on local disk under `data_dir/galleries/`, a cache any replica may lose)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gallery import inputs
from gallery.config import IndexConfig
from gallery.errors import InvalidGalleryName, StoreCorrupt
from gallery.gallery import Gallery
from gallery.postgres.connection import connect, pg_errors, transaction
from gallery.postgres.store import PostgresStore, catalog, ensure_catalog
from gallery.registry import GalleryRegistry
from gallery.snapshot import snapshot_files
from gallery.sqlite import utc_now
from gallery.storage import storage_errors


class PostgresRegistry(GalleryRegistry):
    """GalleryRegistry over the galleries stored in the PostgreSQL database at `url`."""

    def __init__(
        self, data_dir: Path, url: str, *, config: IndexConfig | None = None, **index_options: Any
    ) -> None:
        super().__init__(data_dir, config=config, **index_options)
        self.url = url

    def open(self) -> None:
        """Open every gallery in the catalog (creating the catalog on first use); one that cannot be opened
        is set aside as unavailable, the others open."""
        self.directory.mkdir(parents=True, exist_ok=True)
        conn = connect(self.url)
        try:
            with pg_errors("creating the gallery catalog"), transaction(conn):
                ensure_catalog(conn)
        finally:
            conn.close()
        with self._lock:
            for name, schema in catalog(self.url):
                if name not in self._galleries:
                    self._open_or_set_aside(name, Path(schema))

    def _open_one(self, name: str, path: Path) -> Gallery:
        try:
            inputs.gallery_name(name)
        except InvalidGalleryName as exc:
            raise StoreCorrupt(f"catalog row {name!r} is not named like a gallery: {exc}") from exc
        store = PostgresStore.open(self.url, name)
        if store.meta.name != name:
            store.close()
            raise StoreCorrupt(f"{store.label} holds gallery {store.meta.name!r}, not {name!r}")
        return Gallery(store, config=self.config, snapshot_path=self._snapshot_path(name))

    def _create_store(self, name: str, **fields: Any) -> PostgresStore:  # type: ignore[override]
        with storage_errors(f"creating gallery {name!r}"):
            self.directory.mkdir(parents=True, exist_ok=True)
            for stale in snapshot_files(self._snapshot_path(name)):
                stale.unlink(missing_ok=True)
        return PostgresStore.create(self.url, name=name, **fields)

    def _remove_store(self, name: str) -> None:
        """Drop the gallery's schema and catalog row in one transaction, then its local index snapshot."""
        conn = connect(self.url)
        try:
            with pg_errors(f"deleting gallery {name!r}"), transaction(conn):
                ensure_catalog(conn)
                row = conn.execute("DELETE FROM sg_galleries WHERE name = ? RETURNING schema_name", (name,))
                found = row.fetchone()  # None: another replica deleted it first, which is what was asked
                if found is not None:
                    conn.execute(f'DROP SCHEMA IF EXISTS "{found[0]}" CASCADE')
        finally:
            conn.close()
        with storage_errors(f"deleting gallery {name!r}"):
            for path in snapshot_files(self._snapshot_path(name)):
                path.unlink(missing_ok=True)

    def _write_probe_file(self) -> None:
        """One committed write that changes nothing anyone reads: the catalog's probe row rewritten."""
        conn = connect(self.url)
        try:
            with pg_errors("writing the gallery catalog"), transaction(conn):
                conn.execute(
                    "INSERT INTO sg_probe (id, at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET at = excluded.at",
                    (utc_now(),),
                )
        finally:
            conn.close()
