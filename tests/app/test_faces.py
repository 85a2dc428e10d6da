"""The shipped face model through the real service: photos and crops are detected and aligned, and the
responses say where the face was; no face is 422 no_face; several faces use the largest (or refuse at enroll)."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("dlib", reason="dlib-bin is not installed")

MODELS = Path(__file__).resolve().parents[2] / "models"
PHOTOS = Path(__file__).resolve().parents[1] / "data"
FACE_FILES = ("faces.json", "faces.onnx", "faces.landmarks.dat")

pytestmark = pytest.mark.skipif(
    not all((MODELS / name).is_file() for name in FACE_FILES), reason="the faces model is not committed"
)


@pytest.fixture(scope="module")
def face_models(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("face-models")
    for name in FACE_FILES:
        shutil.copyfile(MODELS / name, path / name)
    return path


def photo(name: str) -> tuple[str, bytes, str]:
    return (name, (PHOTOS / "faces" / name).read_bytes(), "image/jpeg")


def jpeg(img: Image.Image, name: str = "crop.jpg") -> tuple[str, bytes, str]:
    buffer = io.BytesIO()
    img.save(buffer, format="JPEG", quality=92)
    return (name, buffer.getvalue(), "image/jpeg")


def tight_crop(name: str, box: list[int], side: int = 64) -> Image.Image:
    """The face cut out tightly, as the face sets frame it, at `side` pixels."""
    img = Image.open(PHOTOS / "faces" / name).convert("RGB")
    return img.crop(tuple(box)).resize((side, side), Image.Resampling.BILINEAR)


@pytest.fixture
async def face_client(helpers, tmp_path, face_models):
    from tests.app.conftest import make_settings

    settings = make_settings(tmp_path, face_models, default_galleries=("faces",), max_image_pixels=4_000_000)
    async with helpers.serving(settings) as (_, client):
        yield client


async def test_enroll_photo_reports_the_detected_face_box(face_client):
    response = await face_client.post(
        "/enroll", data={"gallery": "faces", "identity": "obama"}, files=[("images", photo("obama.jpg"))]
    )
    assert response.status_code == 201, response.text
    (face,) = response.json()["faces"]
    left, top, right, bottom = face["box"]
    assert face["detected"] is True and face["faces"] == 1
    assert 0 <= left < right <= 384 and 0 <= top < bottom <= 480  # inside the 384x480 photo


async def test_identify_same_person_matches_and_another_person_is_unknown(face_client):
    await face_client.post(
        "/enroll", data={"gallery": "faces", "identity": "obama"}, files=[("images", photo("obama.jpg"))]
    )
    same = (
        await face_client.post("/identify", data={"gallery": "faces"}, files={"image": photo("obama2.jpg")})
    ).json()
    other = (
        await face_client.post("/identify", data={"gallery": "faces"}, files={"image": photo("biden.jpg")})
    ).json()
    assert same["identity"] == "obama" and same["face"]["detected"] is True
    assert other["identity"] is None and other["distance"] > other["threshold"]


async def test_verify_reports_both_faces(face_client):
    response = await face_client.post(
        "/verify",
        data={"model": "faces"},
        files={"image_a": photo("obama.jpg"), "image_b": photo("obama2.jpg")},
    )
    body = response.json()
    assert response.status_code == 200 and body["match"] is True
    assert [f["detected"] for f in body["faces"]] == [True, True]


async def test_tight_crop_without_a_detected_face_is_aligned_from_its_own_landmarks(face_client):
    enrolled = await face_client.post(
        "/enroll", data={"gallery": "faces", "identity": "obama"}, files=[("images", photo("obama.jpg"))]
    )
    box = enrolled.json()["faces"][0]["box"]
    # inside the detector's box: too tight for the detector, as tight crops of the face sets are
    inset = [box[0] + 12, box[1] + 12, box[2] - 12, box[3] - 4]
    crop = tight_crop("obama.jpg", inset)
    body = (
        await face_client.post("/identify", data={"gallery": "faces"}, files={"image": jpeg(crop)})
    ).json()
    assert body["face"] == {"box": [0, 0, 63, 63], "detected": False, "faces": 0}
    assert body["identity"] == "obama"


async def test_photo_without_a_face_is_422_no_face_and_stores_nothing(face_client):
    response = await face_client.post(
        "/enroll",
        data={"gallery": "faces", "identity": "cup"},
        files=[("images", ("coffee.jpg", (PHOTOS / "coffee.jpg").read_bytes(), "image/jpeg"))],
    )
    assert response.status_code == 422 and response.json()["error"]["code"] == "no_face"
    listing = (await face_client.get("/galleries/faces/identities")).json()
    assert listing["total"] == 0


async def test_small_plain_image_is_422_no_face(face_client):
    """Small enough to be taken for a face crop, but its aligned chip does not look like a face."""
    wall = Image.fromarray(np.tile(np.linspace(90, 160, 96).astype(np.uint8), (96, 1))).convert("RGB")
    response = await face_client.post("/identify", data={"gallery": "faces"}, files={"image": jpeg(wall)})
    assert response.status_code == 422 and response.json()["error"]["code"] == "no_face"


async def test_group_photo_identify_uses_the_largest_of_several_faces(face_client):
    response = await face_client.post(
        "/identify", data={"gallery": "faces"}, files={"image": photo("group.jpg")}
    )
    face = response.json()["face"]
    assert response.status_code == 200 and face["faces"] == 3 and face["detected"] is True


async def test_group_photo_enroll_is_refused_when_multiple_faces_are_refused(helpers, tmp_path, face_models):
    from tests.app.conftest import make_settings

    settings = make_settings(
        tmp_path,
        face_models,
        default_galleries=("faces",),
        enroll_multiple_faces="refuse",
        max_image_pixels=4_000_000,
    )
    async with helpers.serving(settings) as (_, client):
        response = await client.post(
            "/enroll", data={"gallery": "faces", "identity": "crowd"}, files=[("images", photo("group.jpg"))]
        )
        assert response.status_code == 422 and response.json()["error"]["code"] == "multiple_faces"
        assert (await client.get("/galleries/faces/identities")).json()["total"] == 0
