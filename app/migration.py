"""Model migrations: re-embed a gallery's kept images with another model in the background, through that
model's batcher at the lowest priority, then switch the gallery over in one transaction (`gallery.migration`).

One task per migrating gallery, owned by the runtime: at start-up a migration found running resumes when
its model is loaded with the same sha256, and is rolled back otherwise (the gallery stays wholly on its old
model). Images that no longer decode, or hold no face for a face model, are recorded per reference.

Replicas sharing galleries in PostgreSQL: the task runs under the store's lease on the migration, so one
replica runs it while the others answer its state; a replica that finds it running under another's lease
neither resumes nor rolls it back, and one that has the model takes it over (within SG_REPLICA_POLL_S) when
the replica running it dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from typing import TYPE_CHECKING

import numpy as np

from app.encoder import Encoder
from app.errors import BadImage, BatchFailed, ImageTooLarge, NoFace, NotRunning, Overloaded
from app.imaging import Upload, prepare_images
from gallery import migration
from gallery.errors import GalleryError, GalleryNotFound, StorageError, StorageFull
from gallery.gallery import Gallery
from gallery.store import Lease

if TYPE_CHECKING:
    from app.runtime import Runtime

log = logging.getLogger(__name__)
RETRY_S = 1.0  # after a failed model call, the step is tried again this much later
LEASE = "model-migration"  # the store lease the running task holds (`GalleryStore.try_lease`)


async def take_lease(gallery: Gallery) -> Lease:
    """The store's lease on the gallery's migration (`GalleryStore.try_lease`), taken on a worker thread; a
    task cancelled meanwhile releases what the thread took, so no lease outlives its task."""
    taking = asyncio.ensure_future(asyncio.to_thread(gallery.store.try_lease, LEASE))
    try:
        return await asyncio.shield(taking)
    except asyncio.CancelledError:
        taking.add_done_callback(_release_taken)
        raise


def _release_taken(taking: asyncio.Future[Lease]) -> None:
    if not taking.cancelled() and taking.exception() is None:
        taking.result().release()


class Migrations:
    """The running migration tasks, by gallery name."""

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._adopter: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Resume every migration found running whose model is loaded as it was; roll back the others. With
        galleries shared by replicas, then look for migrations left without a runner every poll interval."""
        for info in await asyncio.to_thread(self._rt.registry.list):
            # one gallery's trouble (a full disk, a delete meanwhile) stops no start
            try:
                await self._recover(info.name)
            except GalleryError as exc:
                log.error("gallery %s: its migration could not be checked at start-up: %s", info.name, exc)
        if self._rt.registry.replication() is not None:
            self._adopter = asyncio.create_task(self._adopt(), name="adopt-migrations")

    async def _recover(self, name: str, *, at_start: bool = True) -> None:
        """Resume `name`'s running migration if its model is loaded as it was; else, at start-up, roll it
        back, unless another replica runs it (holds its lease)."""
        if self.running(name):
            return
        gallery = self._rt.registry.get(name)
        current = await asyncio.to_thread(migration.state, gallery.store)
        if current is None or current.state != "running":
            return
        encoder = self._rt.models.encoders.get(current.model)
        if encoder is not None and encoder.sha256 == current.model_sha256:
            self._spawn(gallery, encoder)  # the task runs it unless another replica holds its lease
            return
        if not at_start:
            return  # left to a replica that has the model
        lease = await take_lease(gallery)
        if not lease.held:
            log.info("gallery %s: its migration to model %s runs on another replica", name, current.model)
            return
        try:
            why = f"model {current.model!r} sha256 {current.model_sha256} was not loaded at start-up"
            log.warning("gallery %s: migration rolled back: %s", gallery.name, why)
            await asyncio.to_thread(migration.finish, gallery.store, state="rolled_back", message=why)
        finally:
            lease.release()

    async def _adopt(self) -> None:
        """Take over the migrations whose runner died (another replica, killed), every SG_REPLICA_POLL_S."""
        while True:
            await asyncio.sleep(self._rt.settings.replica_poll_s)
            for name in self._rt.registry.names():  # from memory: no store read per gallery just for names
                try:
                    await self._recover(name, at_start=False)
                except GalleryNotFound:
                    continue  # deleted since the listing
                except GalleryError as exc:
                    log.warning("gallery %s: its migration could not be checked: %s", name, exc)

    async def stop(self) -> None:
        """Stop every task; what they staged stays, and resumes at the next start."""
        if self._adopter is not None:
            self._adopter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._adopter
            self._adopter = None
        tasks, self._tasks = list(self._tasks.values()), {}
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def running(self, name: str) -> bool:
        task = self._tasks.get(name)
        return task is not None and not task.done()

    async def begin(
        self, gallery: Gallery, encoder: Encoder, *, drop_failed: bool
    ) -> migration.MigrationState:
        """Start (or resume) the gallery's migration to `encoder`'s model; answers at once."""
        self._rt.batcher(encoder.name)  # NotRunning while the service starts or stops
        state = await asyncio.to_thread(
            migration.begin,
            gallery.store,
            model=encoder.name,
            model_sha256=encoder.sha256,
            dim=encoder.dim,
            drop_failed=drop_failed,
        )
        if not self.running(gallery.name):
            self._spawn(gallery, encoder)
        return state

    async def cancel(self, gallery: Gallery) -> None:
        """Cancel the gallery's migration: its staged embeddings go, the gallery stays on its model."""
        task = self._tasks.pop(gallery.name, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await asyncio.to_thread(migration.finish, gallery.store, state="cancelled", message="cancelled")
        self._report(gallery.name, await asyncio.to_thread(migration.state, gallery.store))

    def _spawn(self, gallery: Gallery, encoder: Encoder) -> None:
        task = asyncio.create_task(self._run(gallery, encoder), name=f"migrate-{gallery.name}")
        self._tasks[gallery.name] = task
        task.add_done_callback(lambda done: self._forget(gallery.name, done))

    def _forget(self, name: str, task: asyncio.Task[None]) -> None:
        if self._tasks.get(name) is task:
            del self._tasks[name]

    async def _run(self, gallery: Gallery, encoder: Encoder) -> None:
        """`_run_leased` under the migration's lease; nothing when another replica holds it."""
        while True:
            try:
                lease = await take_lease(gallery)
                break
            except GalleryNotFound:
                return
            except (StorageFull, StorageError) as exc:
                log.warning("gallery %s: migration waits for storage: %s", gallery.name, exc)
                await asyncio.sleep(RETRY_S)
        if not lease.held:
            log.debug("gallery %s: its migration runs on another replica", gallery.name)
            return
        log.info("gallery %s: running its migration to model %s", gallery.name, encoder.name)
        try:
            await self._run_leased(gallery, encoder)
        finally:
            lease.release()

    async def _run_leased(self, gallery: Gallery, encoder: Encoder) -> None:
        """`_migrate` until it ends; a storage failure (a full disk, a lock) is waited out and the migration
        goes on from what it staged; any other failure leaves it `blocked` with the reason, never `running`
        with no task behind it."""
        while True:
            try:
                await self._migrate(gallery, encoder)
                return
            except (GalleryNotFound, sqlite3.ProgrammingError):  # the gallery was deleted or closed meanwhile
                log.info("gallery %s: migration ended: the gallery is gone", gallery.name)
                return
            except NotRunning:
                log.info("gallery %s: migration paused: the service is stopping", gallery.name)
                return
            except (StorageFull, StorageError) as exc:
                log.warning("gallery %s: migration waits for storage: %s", gallery.name, exc)
                await asyncio.sleep(RETRY_S)
            except Exception as exc:  # noqa: BLE001 (recorded as the migration's reason, never lost)
                log.exception("gallery %s: migration stopped", gallery.name)
                await self._block(gallery, f"stopped by an error: {exc}")
                return

    async def _block(self, gallery: Gallery, message: str) -> None:
        """Record the migration as `blocked` with `message` (best effort: a store that fails again is logged)."""
        try:
            await asyncio.to_thread(migration.finish, gallery.store, state="blocked", message=message)
            self._report(gallery.name, await asyncio.to_thread(migration.state, gallery.store))
        except GalleryError as exc:
            log.error("gallery %s: migration could not be marked blocked: %s", gallery.name, exc)

    async def _migrate(self, gallery: Gallery, encoder: Encoder) -> None:
        """Steps of SG_MIGRATION_BATCH references until none is left, then the switch (again if references
        were enrolled meanwhile), or `blocked` when some failed and the migration may not drop them."""
        batch, after = self._rt.settings.migration_batch, 0
        while True:
            rows = await asyncio.to_thread(migration.pending, gallery.store, after=after, limit=batch)
            if rows:
                if await self._step(gallery, encoder, rows):
                    after = rows[-1][0]
                else:
                    await asyncio.sleep(RETRY_S)
                self._report(gallery.name, await asyncio.to_thread(migration.state, gallery.store))
                continue
            current = await asyncio.to_thread(migration.state, gallery.store)
            if current is None or current.state != "running" or current.model_sha256 != encoder.sha256:
                return
            if current.failed and not current.drop_failed:
                message = (
                    f"{current.failed} references could not be re-embedded (see GET /galleries/{gallery.name}"
                    "/migration): delete or re-enroll them and migrate again, or migrate with drop_failed"
                )
                await asyncio.to_thread(migration.finish, gallery.store, state="blocked", message=message)
                self._report(gallery.name, await asyncio.to_thread(migration.state, gallery.store))
                return
            dropped = await asyncio.to_thread(gallery.switch_model)
            if dropped is not None:
                self._report(gallery.name, await asyncio.to_thread(migration.state, gallery.store))
                return
            after = 0  # enrolled since the last step: embed those too

    async def _step(self, gallery: Gallery, encoder: Encoder, rows: list[tuple[int, bytes | None]]) -> bool:
        """Decode, embed and stage one step; False when the model call failed (tried again later)."""
        ids, arrays, failed = await asyncio.to_thread(self._decode, encoder, rows)
        embeddings = np.empty((0, encoder.dim), dtype=np.float32)
        if arrays:
            try:
                embeddings = await self._rt.batcher(encoder.name).embed_background(arrays)
            except (BatchFailed, Overloaded) as exc:
                log.warning("gallery %s: migration step failed, retrying: %s", gallery.name, exc)
                return False
        await asyncio.to_thread(
            migration.stage, gallery.store, ids, embeddings, failed, model_sha256=encoder.sha256
        )
        return True

    def _decode(
        self, encoder: Encoder, rows: list[tuple[int, bytes | None]]
    ) -> tuple[list[int], list[np.ndarray], list[tuple[int, str, str]]]:
        """(blocking) Each kept image as the encoder's input, or why it cannot be one."""
        s = self._rt.settings
        ids, arrays, failed = [], [], []
        for reference_id, data in rows:
            if data is None:
                failed.append((reference_id, "no_image", "no image was kept for this reference"))
                continue
            upload = Upload(filename=f"reference {reference_id}", data=data)
            try:
                prepared = prepare_images(
                    [upload],
                    encoder.card.input,
                    max_pixels=s.max_image_pixels,
                    max_side=s.max_image_side,
                    max_aspect=s.max_image_aspect,
                    aligner=encoder.aligner,
                )
            except NoFace as exc:
                failed.append((reference_id, "no_face", str(exc)))
            except (BadImage, ImageTooLarge) as exc:
                failed.append((reference_id, "undecodable", str(exc)))
            else:
                ids.append(reference_id)
                arrays.append(prepared.batch[0])
        return ids, arrays, failed

    def _report(self, name: str, state: migration.MigrationState | None) -> None:
        self._rt.metrics.set_migration(name, state)
