"""The service under storage faults: damaged or unfinished gallery files at start-up (the others serve, `/ready`
names the damaged ones, their requests answer 503 gallery_unavailable) and a full disk (a real small tmpfs)
on create and enroll (507 storage_full, nothing acknowledged lost, writes back once there is room)."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import numpy as np

from gallery.sqlite import connect, migrate
from tests.support.disk import fill


def _metaless(path: Path) -> None:
    """What a create killed between its schema and its meta row used to leave."""
    conn = connect(path)
    migrate(conn)
    conn.close()


def _damage(galleries: Path) -> None:
    galleries.mkdir(parents=True)
    (galleries / "broken.sqlite").write_bytes(b"")
    _metaless(galleries / "halfmade.sqlite")
    (galleries / "staff.sqlite.creating").write_bytes(b"")  # a create killed before it was renamed
    (galleries / "staff.sqlite.creating-journal").write_bytes(b"\0" * 512)


async def test_start_with_damaged_gallery_files_serves_the_others_and_reports_them(
    helpers, settings, tmp_path
):
    galleries = tmp_path / "data" / "galleries"
    _damage(galleries)
    async with helpers.serving(settings) as (_, client):
        ready = (await client.get("/ready")).json()
        assert ready["status"] == "degraded" and ready["galleries"]["faces"]["status"] == "ready"
        unavailable = ready["unavailable_galleries"]
        assert {name: entry["file"] for name, entry in unavailable.items()} == {
            "broken": "broken.sqlite",
            "halfmade": "halfmade.sqlite",
        }
        assert "empty" in unavailable["broken"]["reason"]
        assert "meta row" in unavailable["halfmade"]["reason"]
        assert not list(galleries.glob("*.creating*"))
        assert (await helpers.enroll(client, "alice")).status_code == 201
        for response in (
            await helpers.enroll(client, "bob", gallery="broken"),
            await helpers.identify(client, helpers.pattern("alice"), gallery="halfmade"),
            await client.get("/galleries/broken/identities"),
            await client.get("/galleries/halfmade"),
        ):
            assert response.status_code == 503
            assert response.json()["error"]["code"] == "gallery_unavailable"
        again = await client.post("/galleries", json={"name": "broken", "model": "toy"})
        assert again.status_code == 409 and again.json()["error"]["code"] == "gallery_exists"
        assert (await client.delete("/galleries/broken")).status_code == 200
        assert (await client.post("/galleries", json={"name": "broken", "model": "toy"})).status_code == 201
        assert set((await client.get("/ready")).json()["unavailable_galleries"]) == {"halfmade"}


async def test_first_start_with_zero_byte_default_gallery_starts_and_reports_it(helpers, settings, tmp_path):
    galleries = tmp_path / "data" / "galleries"
    galleries.mkdir(parents=True)
    (galleries / "faces.sqlite").write_bytes(b"")
    async with helpers.serving(settings) as (_, client):
        ready = (await client.get("/ready")).json()
        assert ready["status"] == "degraded" and ready["galleries"] == {}
        assert ready["unavailable_galleries"]["faces"]["file"] == "faces.sqlite"
        response = await helpers.enroll(client, "alice")
        assert response.status_code == 503 and response.json()["error"]["code"] == "gallery_unavailable"
        assert (await client.post("/galleries", json={"name": "staff", "model": "toy"})).status_code == 201


async def _identities(client) -> set[str]:
    page = (await client.get("/galleries/faces/identities", params={"limit": 1000})).json()
    return {row["identity"] for row in page["identities"]}


async def test_full_disk_refuses_create_and_enroll_with_507_and_recovers_without_restart(
    helpers, settings_factory, full_disk_dir
):
    settings = settings_factory(data_dir=full_disk_dir)
    pad = '{"pad": "' + "x" * 4000 + '"}'
    async with helpers.serving(settings) as (_, client):
        acknowledged = {"alice"}
        assert (await helpers.enroll(client, "alice")).status_code == 201
        filler = fill(full_disk_dir)
        created = await client.post("/galleries", json={"name": "other", "model": "toy"})
        assert created.status_code == 507 and created.json()["error"]["code"] == "storage_full"
        assert not [p for p in (full_disk_dir / "galleries").iterdir() if p.name.startswith("other")]
        refused = None
        for i in range(30):  # the WAL may still have room for a few
            response = await helpers.enroll(client, f"p-{i}", metadata=pad)
            if response.status_code != 201:
                refused = response
                break
            acknowledged.add(f"p-{i}")
        assert refused is not None and refused.status_code == 507
        assert refused.json()["error"]["code"] == "storage_full"
        assert await _identities(client) == acknowledged
        filler.unlink()
        assert (await helpers.enroll(client, "later", metadata=pad)).status_code == 201
        acknowledged.add("later")
        assert (await client.post("/galleries", json={"name": "other", "model": "toy"})).status_code == 201
    async with helpers.serving(settings) as (_, client):
        assert await _identities(client) == acknowledged


async def test_ready_is_degraded_while_writes_fail_for_storage_until_a_write_succeeds(
    helpers, settings_factory, full_disk_dir
):
    settings = settings_factory(data_dir=full_disk_dir, storage_probe_s=0)
    pad = '{"pad": "' + "x" * 4000 + '"}'
    async with helpers.serving(settings) as (_, client):
        assert (await helpers.enroll(client, "alice")).status_code == 201
        assert (await client.get("/ready")).json()["status"] == "ready"
        filler = fill(full_disk_dir)
        for i in range(30):  # the WAL may still have room for a few
            if (await helpers.enroll(client, f"p-{i}", metadata=pad)).status_code == 507:
                break
        assert (await client.post("/galleries", json={"name": "other", "model": "toy"})).status_code == 507
        for _ in range(2):  # the second read probes again, and the disk is still full
            ready = (await client.get("/ready")).json()
            assert ready["status"] == "degraded" and ready["galleries"]["faces"]["status"] == "ready"
            assert ready["degraded_galleries"]["faces"]["storage"]["code"] == "storage_full"
            assert ready["storage"]["code"] == "storage_full" and "other" in ready["storage"]["message"]
        filler.unlink()
        ready = (await client.get("/ready")).json()  # the probes' writes succeed: no client write needed
        assert ready["status"] == "ready", ready
        assert ready["degraded_galleries"] == {} and ready["storage"] is None
        assert (await helpers.enroll(client, "later", metadata=pad)).status_code == 201


async def test_ready_names_damaged_references_kept_out_of_the_index(helpers, settings, tmp_path):
    async with helpers.serving(settings) as (_, client):
        for name in ("alice", "bob"):
            assert (await helpers.enroll(client, name)).status_code == 201
    galleries = tmp_path / "data" / "galleries"
    for snapshot in galleries.glob("faces.faiss*"):
        snapshot.unlink()
    with sqlite3.connect(galleries / "faces.sqlite") as conn:
        (blob,) = conn.execute('SELECT embedding FROM "references" WHERE id = 1').fetchone()
        huge = np.full(len(blob) // 4, 1e30, dtype="<f4").tobytes()
        conn.execute('UPDATE "references" SET embedding = ? WHERE id = 1', (huge,))
    async with helpers.serving(settings) as (_, client):
        body = (await helpers.identify(client, helpers.pattern("bob"))).json()
        assert body["identity"] == "bob" and all(c["reference_id"] != 1 for c in body["candidates"])
        ready = (await client.get("/ready")).json()
        assert ready["status"] == "degraded"
        damaged = ready["degraded_galleries"]["faces"]
        assert damaged["damaged_count"] == 1 and damaged["damaged_references"][0]["reference_id"] == 1
        assert "norm" in damaged["damaged_references"][0]["reason"] and damaged["storage"] is None
        assert (await client.delete("/galleries/faces/references/1")).status_code == 200
        assert (await client.get("/ready")).json()["status"] == "ready"


async def test_ready_reports_a_store_rolled_back_by_a_stale_wal_and_serves_what_sqlite_holds(
    helpers, settings, tmp_path
):
    galleries = tmp_path / "data" / "galleries"
    wal = galleries / "faces.sqlite-wal"
    async with helpers.serving(settings) as (_, client):
        assert (await helpers.enroll(client, "alice")).status_code == 201  # references 1 and 2
        shutil.copy(wal, tmp_path / "stale-wal")
        assert (await helpers.enroll(client, "bob")).status_code == 201  # references 3 and 4
    shutil.copy(tmp_path / "stale-wal", wal)  # the store goes back to alice alone
    async with helpers.serving(settings) as (_, client):
        ready = (await client.get("/ready")).json()
        assert ready["status"] == "degraded"
        rollback = ready["degraded_galleries"]["faces"]["rollback"]
        assert rollback["lost_count"] == 2 and rollback["lost_ids"] == [3, 4]
        assert (rollback["snapshot_max_id"], rollback["store_last_id"]) == (4, 2)
        assert "rolled back" in rollback["reason"]
        body = (await helpers.identify(client, helpers.pattern("alice"))).json()
        assert body["identity"] == "alice"
        response = await helpers.enroll(client, "bob")
        assert response.status_code == 201
        assert response.json()["reference_ids"] == [5, 6]
    async with helpers.serving(settings) as (_, client):  # still on record after a restart
        assert (await client.get("/ready")).json()["degraded_galleries"]["faces"]["rollback"] == rollback
        cleared = (await client.delete("/galleries/faces/rollback")).json()
        assert cleared == {"gallery": "faces", "cleared": rollback}
        assert (await client.get("/ready")).json()["status"] == "ready"
        again = await client.delete("/galleries/faces/rollback")
        assert again.status_code == 200 and again.json()["cleared"] is None
        assert (await client.delete("/galleries/nowhere/rollback")).status_code == 404
