"""`python -m app` serves on SG_HOST:SG_PORT with a real uvicorn, in a subprocess."""

from __future__ import annotations

import httpx

from tests.support.service import free_port, start_service, stop_service, wait_for


def test_python_m_app_serves_health_and_ready(tmp_path, models_dir):
    port = free_port()
    process = start_service(
        port=port,
        data_dir=tmp_path / "data",
        models_dir=models_dir,
        settings={"SG_HOST": "127.0.0.1", "SG_API_KEYS": "secret"},
        wait=False,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        assert wait_for(f"{base}/health", process=process).json() == {"status": "ok"}
        ready = httpx.get(f"{base}/ready", timeout=5).json()
        assert ready["status"] == "ready" and "faces" in ready["galleries"]
        assert httpx.get(f"{base}/galleries", timeout=5).status_code == 401
        assert httpx.get(f"{base}/galleries", headers={"X-API-Key": "secret"}, timeout=5).status_code == 200
    finally:
        stop_service(process)
    assert (tmp_path / "data" / "galleries" / "faces.sqlite").is_file()
