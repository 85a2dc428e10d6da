"""Kept reference images through the service: the enrolled bytes back from /image, a JPEG thumbnail, the size
cap, the per-gallery and service-wide opt-outs (no image bytes anywhere in the gallery's files)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

DATA = Path(__file__).resolve().parents[2] / "data"


def _rgb_png(seed: int, side: int = 64) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (side, side, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


async def _enroll_bytes(client, gallery: str, identity: str, data: bytes, name: str = "a.png") -> list[int]:
    files = [("images", (name, data, "application/octet-stream"))]
    response = await client.post("/enroll", data={"gallery": gallery, "identity": identity}, files=files)
    assert response.status_code == 201, response.text
    return response.json()["reference_ids"]


async def test_read_reference_image_returns_the_enrolled_bytes(client):
    data = _rgb_png(1)
    (ref,) = await _enroll_bytes(client, "faces", "alice", data)
    response = await client.get(f"/galleries/faces/references/{ref}/image")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.content == data
    assert response.headers["cache-control"].startswith("private")


async def test_read_reference_thumbnail_is_a_small_upright_jpeg(client):
    photo = (DATA / "chelsea.jpg").read_bytes()
    (ref,) = await _enroll_bytes(client, "faces", "cat", photo, "chelsea.jpg")
    response = await client.get(f"/galleries/faces/references/{ref}/thumbnail")
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
    thumb = Image.open(io.BytesIO(response.content))
    original = Image.open(DATA / "chelsea.jpg")
    assert thumb.format == "JPEG" and max(thumb.size) == 160
    assert abs(thumb.size[0] / thumb.size[1] - original.size[0] / original.size[1]) < 0.02
    assert len(response.content) < len(photo) / 3


async def test_read_reference_image_etag_answers_304(client):
    (ref,) = await _enroll_bytes(client, "faces", "alice", _rgb_png(2))
    first = await client.get(f"/galleries/faces/references/{ref}/thumbnail")
    again = await client.get(
        f"/galleries/faces/references/{ref}/thumbnail", headers={"If-None-Match": first.headers["etag"]}
    )
    assert again.status_code == 304 and again.content == b""
    other = await client.get(f"/galleries/faces/references/{ref}/thumbnail", headers={"If-None-Match": '"x"'})
    assert other.status_code == 200 and other.content == first.content
    etag = first.headers["etag"]
    for header in (f"W/{etag}", "*", f'"x", W/{etag}'):  # weak comparison, any tag, lists (RFC 9110)
        answer = await client.get(
            f"/galleries/faces/references/{ref}/thumbnail", headers={"If-None-Match": header}
        )
        assert answer.status_code == 304, header


async def test_image_over_the_cap_is_kept_reencoded_under_it(settings_factory, helpers):
    photo = (DATA / "coffee.jpg").read_bytes()  # 42 KB
    async with helpers.serving(settings_factory(kept_image_max_kb=16)) as (_, client):
        (ref,) = await _enroll_bytes(client, "faces", "cup", photo, "coffee.jpg")
        response = await client.get(f"/galleries/faces/references/{ref}/image")
    assert response.headers["content-type"] == "image/jpeg"
    assert len(response.content) <= 16 * 1024
    kept, original = Image.open(io.BytesIO(response.content)), Image.open(DATA / "coffee.jpg")
    assert response.content != photo and 256 <= kept.size[0] <= original.size[0]
    assert abs(kept.size[0] / kept.size[1] - original.size[0] / original.size[1]) < 0.01


async def test_read_reference_image_unknown_reference_returns_404(client):
    response = await client.get("/galleries/faces/references/999/image")
    assert response.status_code == 404 and response.json()["error"]["code"] == "reference_not_found"
    response = await client.get("/galleries/nope/references/1/thumbnail")
    assert response.status_code == 404 and response.json()["error"]["code"] == "gallery_not_found"


async def test_deleted_reference_takes_its_image_and_thumbnail_with_it(service, settings, stored_sql):
    _, client = service
    refs = [await _enroll_bytes(client, "faces", "alice", _rgb_png(seed)) for seed in (3, 4)]
    assert (await client.delete(f"/galleries/faces/references/{refs[0][0]}")).status_code == 200
    assert (await client.get(f"/galleries/faces/references/{refs[0][0]}/image")).status_code == 404
    assert (await client.get(f"/galleries/faces/references/{refs[1][0]}/image")).status_code == 200
    with stored_sql(settings, "faces") as conn:
        assert conn.execute("SELECT COUNT(*) FROM reference_images").fetchone()[0] == 1
        assert conn.execute("SELECT COUNT(*) FROM reference_thumbnails").fetchone()[0] == 1


def _gallery_bytes(settings, stored_sql, name: str) -> bytes:
    """Every byte the gallery stores: its SQLite file and WAL, or every value of every table in its
    PostgreSQL schema (the server's own files hold every database's pages and cannot be told apart)."""
    if settings.database_url is None:
        base = settings.data_dir / "galleries" / f"{name}.sqlite"
        return b"".join(p.read_bytes() for p in (base, Path(f"{base}-wal")) if p.exists())
    with stored_sql(settings, name) as conn:
        tables = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        ).fetchall()
        values = [
            value for (table,) in tables for row in conn.execute(f'SELECT * FROM "{table}"') for value in row
        ]
    return b"".join(bytes(v) if isinstance(v, bytes | memoryview) else str(v).encode() for v in values)


async def test_gallery_created_without_images_keeps_no_image_bytes_in_its_files(
    service, settings, stored_sql
):
    _, client = service
    created = await client.post("/galleries", json={"name": "private", "model": "toy", "keep_images": False})
    assert created.status_code == 201 and created.json()["keep_images"] is False
    uploads = [_rgb_png(10 + i, side=96) for i in range(3)]
    refs = [await _enroll_bytes(client, "private", f"p{i}", data) for i, data in enumerate(uploads)]
    refs += [await _enroll_bytes(client, "faces", f"p{i}", data) for i, data in enumerate(uploads)]  # control
    missing = await client.get(f"/galleries/private/references/{refs[0][0]}/thumbnail")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "image_not_kept"
    private, control = (
        _gallery_bytes(settings, stored_sql, "private"),
        _gallery_bytes(settings, stored_sql, "faces"),
    )
    for data in uploads:
        window = data[len(data) // 2 : len(data) // 2 + 64]  # compressed pixels, found nowhere by chance
        assert window in control and window not in private
    assert b"\xff\xd8\xff" in control and b"\xff\xd8\xff" not in private  # no JPEG (thumbnail) either
    assert b"IHDR" in control and b"IHDR" not in private
    # the private gallery's identify still works: only the bytes are not kept
    probe = await client.post(
        "/identify", data={"gallery": "private"}, files={"image": ("q.png", uploads[1], "image/png")}
    )
    assert probe.json()["identity"] == "p1"


async def test_keep_images_setting_off_keeps_none_and_refuses_a_gallery_asking(settings_factory, helpers):
    async with helpers.serving(settings_factory(keep_images=False)) as (_, client):
        assert (await client.get("/galleries/faces")).json()["keep_images"] is False
        (ref,) = await _enroll_bytes(client, "faces", "alice", _rgb_png(5))
        response = await client.get(f"/galleries/faces/references/{ref}/image")
        assert response.status_code == 404 and response.json()["error"]["code"] == "image_not_kept"
        refused = await client.post("/galleries", json={"name": "x", "model": "toy", "keep_images": True})
        assert refused.status_code == 422 and refused.json()["error"]["code"] == "validation_error"
        assert (await client.get("/galleries/x")).status_code == 404
