"""A model migration survives kill -9 of a real server (`python -m app`, uvicorn) in its middle: the gallery
is wholly on model A until the switch; a restart without model B rolls the migration back, a restart with it
resumes and finishes on B. Nothing enrolled is lost either way."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import httpx
import numpy as np

from tests.support.service import free_port, start_service, stop_service

IDENTITIES = 100
VIEWS = 8  # references per identity: 800 in all, one per migration step


def _start(tmp_path: Path, models: Path, port: int) -> subprocess.Popen:
    return start_service(
        port=port,
        data_dir=tmp_path / "data",
        models_dir=models,
        settings={"SG_DEFAULT_GALLERIES": "toy", "SG_MIGRATION_BATCH": "1"},
    )


def _kill_mid_migration(process: subprocess.Popen, base: str) -> int:
    assert httpx.post(f"{base}/galleries/toy/migrate", json={"model": "toy"}, timeout=10).status_code == 202
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done = httpx.get(f"{base}/galleries/toy", timeout=10).json()["migration"]["done"]
        if done >= 50:
            break
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL
    return done


def _store(tmp_path: Path) -> tuple[str, bytes, int, str]:
    """(model sha256, every embedding in id order, staged rows, migration state), read from the file."""
    with sqlite3.connect(tmp_path / "data" / "galleries" / "toy.sqlite") as conn:
        sha = conn.execute("SELECT model_sha256 FROM meta").fetchone()[0]
        blobs = b"".join(r[0] for r in conn.execute('SELECT embedding FROM "references" ORDER BY id'))
        staged = conn.execute("SELECT COUNT(*) FROM migration_embeddings").fetchone()[0]
        state = conn.execute("SELECT state FROM model_migration").fetchone()[0]
    return sha, blobs, staged, state


def _enroll(base: str, helpers) -> None:
    for i in range(IDENTITIES):
        name = f"{i:03d}-person"
        files = [
            ("images", helpers.image_file(helpers.noisy(name, seed=s), f"{s}.png")) for s in range(VIEWS)
        ]
        response = httpx.post(
            f"{base}/enroll", data={"gallery": "toy", "identity": name}, files=files, timeout=30
        )
        assert response.status_code == 201, response.text


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        stop_service(process, timeout=30)


def test_kill_during_migration_leaves_model_a_then_rolls_back_or_resumes_to_model_b(tmp_path, helpers):
    models = tmp_path / "models"
    models.mkdir()
    sha_a = helpers.write_model(models, "toy", seed=0)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = _start(tmp_path, models, port)
    try:
        _enroll(base, helpers)
    finally:
        _stop(process)
    with sqlite3.connect(tmp_path / "data" / "galleries" / "toy.sqlite") as conn:
        embeddings_a = b"".join(r[0] for r in conn.execute('SELECT embedding FROM "references" ORDER BY id'))
    total = IDENTITIES * VIEWS

    for restart_with_b in (False, True):
        sha_b = helpers.write_model(models, "toy", seed=1)
        process = _start(tmp_path, models, port)
        try:
            done = _kill_mid_migration(process, base)
        finally:
            _stop(process)
        sha, blobs, staged, state = _store(tmp_path)
        assert 0 < done < total and 0 < staged < total, (done, staged)  # killed in the middle
        assert (sha, blobs, state) == (sha_a, embeddings_a, "running")  # wholly model A
        if not restart_with_b:
            helpers.write_model(models, "toy", seed=0)  # model B withdrawn
        process = _start(tmp_path, models, port)
        try:
            if restart_with_b:
                deadline = time.monotonic() + 120
                while httpx.get(f"{base}/galleries/toy/migration", timeout=10).json()["state"] != "completed":
                    assert time.monotonic() < deadline, "the resumed migration did not finish"
                    time.sleep(0.1)
            gallery = httpx.get(f"{base}/galleries/toy", timeout=10).json()
            assert (gallery["status"], gallery["references"], gallery["identities"]) == (
                "ready",
                total,
                IDENTITIES,
            )
            assert gallery["migration"]["state"] == ("completed" if restart_with_b else "rolled_back")
            probe = helpers.noisy("042-person", seed=77)
            answer = httpx.post(
                f"{base}/identify",
                data={"gallery": "toy"},
                files={"image": helpers.image_file(probe)},
                timeout=10,
            ).json()
            assert answer["identity"] == "042-person"
            views = [helpers.image_file(helpers.noisy("042-person", seed=s)) for s in range(VIEWS)]
            distances = [
                httpx.post(
                    f"{base}/verify",
                    data={"model": "toy"},
                    files={"image_a": view, "image_b": helpers.image_file(probe)},
                    timeout=10,
                ).json()["distance"]
                for view in views
            ]
            assert abs(answer["distance"] - min(distances)) < 1e-5  # the loaded model's own answer
        finally:
            _stop(process)
        sha, blobs, staged, state = _store(tmp_path)
        assert staged == 0
        if restart_with_b:
            assert sha == sha_b and blobs != embeddings_a and len(blobs) == len(embeddings_a)
        else:
            assert (sha, blobs, state) == (sha_a, embeddings_a, "rolled_back")
    assert np.frombuffer(blobs, dtype="<f4").size == total * helpers.DIM
