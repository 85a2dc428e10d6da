"""GET /ui and its files: served without a key (the page asks for one), by name only, with their media types;
every file the page loads exists."""

from __future__ import annotations

import re

import pytest

from app.routes.ui import STATIC


@pytest.fixture
async def keyed(helpers, settings_factory):
    async with helpers.serving(settings_factory(api_keys=("secret",))) as (_, client):
        yield client


async def test_read_page_without_key_returns_html(keyed):
    response = await keyed.get("/ui")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-cache"
    assert '<script type="module" src="ui/app.js">' in response.text


@pytest.mark.parametrize(
    ("name", "media_type"),
    [("app.js", "text/javascript"), ("style.css", "text/css"), ("icon.svg", "image/svg+xml")],
)
async def test_read_asset_without_key_returns_its_media_type(keyed, name, media_type):
    response = await keyed.get(f"/ui/{name}")
    assert response.status_code == 200 and response.headers["content-type"].startswith(media_type)
    assert response.content == (STATIC / name).read_bytes()


async def test_head_of_page_and_asset_answers_without_a_body(keyed):
    for path in ("/ui", "/ui/app.js"):
        response = await keyed.head(path)
        assert response.status_code == 200 and response.content == b""
        assert int(response.headers["content-length"]) > 0


async def test_read_page_with_slash_redirects_to_the_page(keyed):
    response = await keyed.get("/ui/")
    assert response.status_code == 308 and response.headers["location"] == "/ui"


@pytest.mark.parametrize("path", ["/ui/nope.js", "/ui/..%2Fmain.py", "/ui/..%2F..%2Fpyproject.toml"])
async def test_read_asset_outside_the_page_returns_404(client, path):
    response = await client.get(path)
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


async def test_paths_beside_the_page_still_need_the_key(keyed):
    assert (await keyed.get("/uix")).status_code == 401
    assert (await keyed.get("/galleries")).status_code == 401


async def test_every_file_the_page_loads_is_served(client):
    page = (await client.get("/ui")).text
    wanted = set(re.findall(r'(?:src|href)="ui/([^"]+)"', page))
    for script in STATIC.glob("*.js"):
        wanted |= set(re.findall(r'from "\./([^"]+)"', script.read_text()))
    assert {"app.js", "style.css", "icon.svg", "api.js", "kit.js", "state.js"} <= wanted
    for name in sorted(wanted):
        assert (await client.get(f"/ui/{name}")).status_code == 200, name
