"""The strict multipart reader: the plain form is read; anything out of the ordinary answers None."""

from __future__ import annotations

import pytest

from app.plainform import MAX_PARTS, FilePart, PlainForm, read_plain_form
from tests.support import multipart

BOUNDARY = "sg-boundary"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}".encode()


def part(name: str, data: bytes, *, filename: str | None = None, extra: str = "") -> bytes:
    return multipart.part(name, data, filename=filename, extra=extra, boundary=BOUNDARY)


def body(*parts: bytes) -> bytes:
    return multipart.form(*parts, boundary=BOUNDARY)


def test_plain_form_gives_its_fields_and_files():
    form = read_plain_form(
        CONTENT_TYPE,
        body(part("gallery", b"faces"), part("image", b"\x89PNG\r\n--x", filename="a b.png"), part("k", b"")),
    )
    assert form == PlainForm(
        fields={"gallery": "faces", "k": ""}, files={"image": FilePart("a b.png", b"\x89PNG\r\n--x")}
    )


def test_utf8_names_and_values_are_decoded_and_an_empty_filename_is_kept_empty():
    form = read_plain_form(
        CONTENT_TYPE, body(part("gallery", "café".encode()), part("image", b"x", filename=""))
    )
    assert form is not None and form.fields["gallery"] == "café" and form.files["image"] == FilePart("", b"x")


@pytest.mark.parametrize(
    ("content_type", "data"),
    [
        (b"application/x-www-form-urlencoded", b"gallery=faces"),
        (b"multipart/form-data", body(part("gallery", b"faces"))),  # no boundary
        (CONTENT_TYPE + b"; charset=latin-1", body(part("gallery", b"faces"))),
        (CONTENT_TYPE, body(part("gallery", b"a"), part("gallery", b"b"))),  # a name twice
        (CONTENT_TYPE, body(part("image", b"x", filename="a.png"), part("image", b"y", filename="b.png"))),
        (CONTENT_TYPE, body(part("gallery", b"\xff\xfe"))),  # not UTF-8
        (CONTENT_TYPE, body(part("image", b"x", filename="\xe9.png").replace("\xe9".encode(), b"\xe9"))),
        (CONTENT_TYPE, body(part("gallery", b"faces", extra="Content-Transfer-Encoding: base64\r\n"))),
        (CONTENT_TYPE, body(part("gallery", b"faces", extra="Content-Disposition: form-data\r\n"))),
        (CONTENT_TYPE, body(*(part(f"f{i}", b"") for i in range(MAX_PARTS + 1)))),
        (CONTENT_TYPE, body(part("gallery", b"x" * (1024 * 1024 + 1)))),
        (CONTENT_TYPE, part("gallery", b"faces")),  # no closing boundary
        (CONTENT_TYPE, b"this is not multipart at all"),
        (CONTENT_TYPE, f"--{BOUNDARY}\r\nContent-Type: text/plain\r\n\r\nx\r\n--{BOUNDARY}--\r\n".encode()),
    ],
    ids=[
        "urlencoded",
        "no-boundary",
        "latin-1",
        "field-twice",
        "file-twice",
        "field-not-utf8",
        "filename-not-utf8",
        "transfer-encoding",
        "header-twice",
        "too-many-parts",
        "field-over-1MiB",
        "truncated",
        "garbage",
        "no-disposition",
    ],
)
def test_anything_but_the_plain_form_is_left_to_the_route(content_type, data):
    assert read_plain_form(content_type, data) is None
