"""The web page in a real headless Chromium (selenium + Debian's chromium and chromium-driver), against
`python -m app` under a real uvicorn with the bundled models. Skipped, with the reason, where no browser is.

Screenshots of each step go to tests/app/ui/screenshots/ (git-ignored).
"""

from __future__ import annotations

import base64
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.service import free_port, start_service, stop_service, wait_for

ROOT = Path(__file__).resolve().parents[3]
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
CHROMIUM = ("chromium", "chromium-browser", "google-chrome")
WINDOW = (1366, 900)  # a laptop screen


def _browser_parts() -> tuple[str, str] | str:
    """(browser, driver) paths, or why the browser tests cannot run here."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[dev]')"
    browser = next((found for name in CHROMIUM if (found := shutil.which(name))), None)
    driver = shutil.which("chromedriver")
    if browser is None or driver is None:
        return "no chromium and chromedriver on PATH (apt-get install -y chromium chromium-driver)"
    return browser, driver


@pytest.fixture
def browser(request: pytest.FixtureRequest) -> Iterator[object]:
    """A headless Chromium at laptop size with a fake camera; one per test (its own session storage)."""
    parts = _browser_parts()
    if isinstance(parts, str):
        pytest.skip(f"browser tests skipped: {parts}")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = parts[0]
    for flag in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-dev-shm-usage",
        "--disable-gpu",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        "--use-fake-device-for-media-stream",  # a camera that draws a test pattern
        "--use-fake-ui-for-media-stream",  # allow it without a prompt
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(parts[1]), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., str]]:
    """`serve(api_keys="")` starts `python -m app` with the bundled models on a free port; returns its URL."""
    processes: list[subprocess.Popen] = []

    def start(*, api_keys: str = "") -> str:
        port = free_port()
        process = start_service(
            port=port,
            data_dir=tmp_path / f"data-{port}",
            models_dir=ROOT / "models",
            settings={"SG_HOST": "127.0.0.1", "SG_API_KEYS": api_keys},
            wait=False,
        )
        processes.append(process)
        base = f"http://127.0.0.1:{port}"
        wait_for(f"{base}/ready", process=process, timeout=90.0, accept=lambda r: r.status_code == 200)
        return base

    yield start
    for process in processes:
        stop_service(process, kill=True)


@pytest.fixture
def shots(request: pytest.FixtureRequest, browser) -> Callable[..., None]:
    """`shots("01-created")` saves a screenshot of the page as tests/app/ui/screenshots/<test>/01-created.png;
    `full=True` takes the whole page's height rather than the window's."""
    folder = SCREENSHOTS / request.node.name
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()

    def take(name: str, *, full: bool = False) -> None:
        if not full:
            browser.save_screenshot(str(folder / f"{name}.png"))
            return
        width, height = browser.execute_script(
            "return [document.documentElement.clientWidth, document.documentElement.scrollHeight]"
        )
        clip = {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}
        shot = browser.execute_cdp_cmd(
            "Page.captureScreenshot", {"captureBeyondViewport": True, "clip": clip}
        )
        (folder / f"{name}.png").write_bytes(base64.b64decode(shot["data"]))

    return take
