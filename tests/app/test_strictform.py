"""FormWatch's notes on a multipart body as it streams in: part names counted, undecodable text named, any
chunking; `digits_only` for form whole numbers."""

from __future__ import annotations

import httpx
import pytest

from app.strictform import SCOPE_KEY, FormNotes, _watch, digits_only
from tests.support import multipart


def body(*parts: tuple[bytes, bytes | None, bytes]) -> bytes:
    """(name, filename or None, data) per part, boundary `sg`."""
    return multipart.form(*(multipart.part(name, data, filename=filename) for name, filename, data in parts))


def notes_of(
    raw: bytes, *, chunk: int, content_type: bytes = b"multipart/form-data; boundary=sg"
) -> FormNotes:
    scope = {"type": "http", "headers": [(b"content-type", content_type)]}
    watcher = _watch(scope)
    for start in range(0, len(raw), chunk):
        if watcher is not None:
            watcher.feed(raw[start : start + chunk])
    return scope[SCOPE_KEY]


@pytest.mark.parametrize("chunk", [1, 7, 10_000])
def test_watch_counts_names_and_decodes_split_utf8_text(chunk):
    raw = body(
        (b"identity", None, "Érin ☃".encode()), (b"images", b"a.png", b"\xff\xfe"), (b"images", b"b", b"")
    )
    notes = notes_of(raw, chunk=chunk)
    assert notes.names == {"identity": 1, "images": 2} and notes.undecodable == []  # file bytes are not text


@pytest.mark.parametrize("chunk", [1, 10_000])
def test_watch_names_text_and_names_that_are_not_utf8(chunk):
    raw = body((b"identity", None, b"\xe9rin"), (b"g\xe1llery", None, b"faces"), (b"ok", None, b"fine"))
    assert notes_of(raw, chunk=chunk).undecodable == ["identity", "g\xe1llery"]


def test_watch_decodes_with_the_declared_charset_and_refuses_an_unknown_one():
    raw = body(
        (b"identity", None, b"\xe9rin"),
    )
    latin = notes_of(raw, chunk=100, content_type=b"multipart/form-data; boundary=sg; charset=latin-1")
    assert latin.undecodable == []
    unknown = notes_of(raw, chunk=100, content_type=b"multipart/form-data; boundary=sg; charset=klingon")
    assert unknown.undecodable == ["(charset klingon)"]


def test_watch_leaves_other_bodies_alone():
    scope = {"type": "http", "headers": [(b"content-type", b"application/json")]}
    assert _watch(scope) is None and SCOPE_KEY not in scope


@pytest.mark.parametrize("value", ["5.0", "+5", " 5", "5 ", "٥", "", "0x5"])
def test_digits_only_refuses_anything_but_plain_digits(value):
    with pytest.raises(ValueError, match="digits"):
        digits_only(value)


def test_digits_only_passes_digits_and_non_strings_on():
    assert digits_only("0005") == "0005" and digits_only(5) == 5


@pytest.mark.parametrize("chunk", [1, 5, 10_000])
def test_watch_notes_whether_the_closing_boundary_came(chunk):
    raw = body((b"gallery", None, b"faces"), (b"image", b"a.png", b"\x89PNG"))
    assert notes_of(raw, chunk=chunk).complete is True
    assert notes_of(raw[: -len(b"--sg--\r\n")], chunk=chunk).complete is False
    assert notes_of(raw[:-4], chunk=chunk).complete is False  # "--sg" with no closing "--"


def test_watch_knows_nothing_of_completeness_when_no_body_came_or_it_does_not_parse():
    assert notes_of(b"", chunk=100).complete is None  # the route answers an empty body as it would
    assert notes_of(b"--sg X\r\n", chunk=100).complete is None  # not padding and a CRLF after the boundary


@pytest.mark.parametrize("tail", [b"", b"\r\n", b"  \r\n", b"\r\nan epilogue\r\n"])
def test_watch_counts_a_closing_boundary_with_or_without_what_follows_it(tail):
    raw = body((b"gallery", None, b"faces"))[: -len(b"\r\n")] + tail
    assert notes_of(raw, chunk=3).complete is True


async def test_a_form_read_by_a_dependency_cut_off_is_400():
    from fastapi import Depends, FastAPI, Form

    from app.errors import install_error_handlers
    from app.strictform import FormWatch, strict_form

    def names(a: str = Form(), b: str | None = Form(None)) -> tuple[str, str | None]:
        return a, b

    app = FastAPI(dependencies=[Depends(strict_form)])
    install_error_handlers(app)
    app.add_middleware(FormWatch)

    @app.post("/")
    def read(form: tuple[str, str | None] = Depends(names)) -> list:
        return list(form)

    whole = body((b"a", None, b"1"), (b"b", None, b"2"))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sg.test") as client:
        headers = {"content-type": "multipart/form-data; boundary=sg"}
        assert (await client.post("/", content=whole, headers=headers)).json() == ["1", "2"]
        cut = await client.post("/", content=whole[: whole.index(b"2") + 1], headers=headers)
        assert cut.status_code == 400 and cut.json()["error"]["code"] == "bad_request"
