"""A client we did not write: openapi-python-client generates one from the live service's /openapi.json (no
warning allowed), and it enrolls, identifies and verifies (both forms) against a real uvicorn with API keys.
Generated from the document FastAPI writes alone, verify's file parts came out as text ("null" or a str)."""

from __future__ import annotations

import importlib
import io
import json
import os
import subprocess
import sys
from http import HTTPStatus
from pathlib import Path

import httpx
import pytest

from tests.support.service import free_port, start_service, stop_service

KEY = "generated-client-key"
PACKAGE = "sg_generated_client"
# the generator reads only JSON, text and application/octet-stream bodies; the kept images are any image/*
CONFIG = 'content_type_overrides:\n  "image/*": application/octet-stream\n'


def generate(document: dict, folder: Path) -> None:
    (folder / "openapi.json").write_text(json.dumps(document))
    (folder / "config.yaml").write_text(CONFIG)
    bin_dir = str(Path(sys.executable).parent)  # the generator formats its output with ruff from this venv
    result = subprocess.run(
        [
            str(Path(bin_dir) / "openapi-python-client"),
            "generate",
            "--path",
            "openapi.json",
            "--config",
            "config.yaml",
            "--meta",
            "none",
            "--output-path",
            PACKAGE,
            "--fail-on-warning",
        ],
        cwd=folder,
        env={**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture
def generated(tmp_path, models_dir):
    """(the generated package, the service's base URL) over a live service with one API key."""
    port = free_port()
    process = start_service(
        port=port, data_dir=tmp_path / "data", models_dir=models_dir, settings={"SG_API_KEYS": KEY}
    )
    base = f"http://127.0.0.1:{port}"
    try:
        document = httpx.get(f"{base}/openapi.json", headers={"X-API-Key": KEY}, timeout=10).json()
        generate(document, tmp_path)
        sys.path.insert(0, str(tmp_path))
        try:
            yield importlib.import_module(PACKAGE), base
        finally:
            sys.path.remove(str(tmp_path))
            for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
                del sys.modules[name]
    finally:
        stop_service(process)


def test_generated_client_enrolls_identifies_and_verifies(generated, helpers):
    package, base = generated
    client_mod = importlib.import_module(f"{PACKAGE}.client")
    types = importlib.import_module(f"{PACKAGE}.types")
    models = importlib.import_module(f"{PACKAGE}.models")
    recognition = f"{PACKAGE}.api.recognition"
    enroll = importlib.import_module(f"{recognition}.enroll_identity_enroll_post")
    identify = importlib.import_module(f"{recognition}.identify_image_identify_post")
    verify = importlib.import_module(f"{recognition}.verify_pair_verify_post")
    health = importlib.import_module(f"{PACKAGE}.api.operations.read_health_health_get")

    def image(name: str, seed: int):
        data = helpers.png(helpers.noisy(name, seed=seed))
        return types.File(payload=io.BytesIO(data), file_name=f"{name}-{seed}.png", mime_type="image/png")

    client = client_mod.AuthenticatedClient(base_url=base, token=KEY, prefix="", auth_header_name="X-API-Key")
    for name in ("alice", "bob"):
        body = models.BodyEnrollIdentityEnrollPost(
            gallery="faces", identity=name, images=[image(name, 1), image(name, 2)]
        )
        answer = enroll.sync_detailed(client=client, body=body)
        assert answer.status_code == HTTPStatus.CREATED, answer.content

    found = identify.sync(
        client=client, body=models.BodyIdentifyImageIdentifyPost(gallery="faces", image=image("bob", 9))
    )
    assert isinstance(found, models.IdentifyOut) and found.identity == "bob"

    pair = models.BodyVerifyPairVerifyPost(
        image_a=image("alice", 3), image_b=image("alice", 4), model="faces"
    )
    same = verify.sync(client=client, body=pair)
    assert isinstance(same, models.VerifyOut) and same.match is True
    other = models.BodyVerifyPairVerifyPost(image_a=image("alice", 5), image_b=image("bob", 5), model="faces")
    assert verify.sync(client=client, body=other).match is False
    claim = models.BodyVerifyPairVerifyPost(gallery="faces", identity="alice", image=image("alice", 6))
    checked = verify.sync(client=client, body=claim)
    assert checked.match is True and checked.identity == "alice" and checked.references == 2

    anonymous = client_mod.Client(base_url=base)
    assert health.sync_detailed(client=anonymous).status_code == HTTPStatus.OK  # open without a key
    refused = identify.sync(
        client=anonymous, body=models.BodyIdentifyImageIdentifyPost(gallery="faces", image=image("bob", 9))
    )
    assert isinstance(refused, models.ErrorBody) and refused.error.code == "unauthorized"
