"""FormWatch's notes on a multipart body as it streams in: part names counted, undecodable text named, any
chunking; `digits_only` for form whole numbers."""

from __future__ import annotations

import pytest

from app.strictform import SCOPE_KEY, FormNotes, _watch, digits_only


def body(*parts: tuple[bytes, bytes | None, bytes]) -> bytes:
    """(name, filename or None, data) per part, boundary `sg`."""
    out = b""
    for name, filename, data in parts:
        disposition = b'form-data; name="' + name + b'"'
        if filename is not None:
            disposition += b'; filename="' + filename + b'"'
        out += b"--sg\r\nContent-Disposition: " + disposition + b"\r\n\r\n" + data + b"\r\n"
    return out + b"--sg--\r\n"


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


def test_watch_knows_nothing_of_completeness_when_the_body_does_not_parse():
    raw = b"--sg X\r\n"  # something other than padding and a CRLF after the first boundary
    assert notes_of(raw, chunk=100).complete is None
    unknown = notes_of(
        body((b"a", None, b"x")), chunk=100, content_type=b"multipart/form-data; boundary=sg; charset=klingon"
    )
    assert unknown.complete is None
