"""`identify_args`: the plain identify form gives the route's arguments; anything the route reads otherwise
(or rejects) gives None, for the route to answer."""

from __future__ import annotations

import pytest

from app.hotpath import IdentifyArgs, identify_args
from app.imaging import Upload
from app.plainform import FilePart, PlainForm

IMAGE = FilePart("a.png", b"png bytes")


def form(files: dict[str, FilePart] | None = None, **fields: str) -> PlainForm:
    return PlainForm(fields=fields, files={"image": IMAGE} if files is None else files)


def test_plain_form_gives_the_routes_arguments_with_its_default_top_k():
    assert identify_args(form(gallery="faces")) == IdentifyArgs("faces", Upload("a.png", b"png bytes"), 5)
    assert identify_args(form(gallery="faces", top_k="100", note="ignored")).top_k == 100


def test_a_file_sent_without_a_name_is_called_upload():
    args = identify_args(form({"image": FilePart("", b"png bytes")}, gallery="faces"))
    assert args is not None and args.upload.filename == "upload"


@pytest.mark.parametrize(
    "plain",
    [
        form(),
        form(gallery=""),
        form({}, gallery="faces"),
        form({"image": FilePart("", b"")}, gallery="faces"),
        form({"image": IMAGE, "top_k": FilePart("k", b"2")}, gallery="faces"),
        form(gallery="faces", top_k="0"),
        form(gallery="faces", top_k="101"),
        form(gallery="faces", top_k=""),
        form(gallery="faces", top_k="+5"),
        form(gallery="faces", top_k="٣"),  # a digit, but not an ASCII one
        form(gallery="faces", top_k="0005"),
    ],
    ids=[
        "no-gallery",
        "empty-gallery",
        "no-image",
        "empty-file-input",
        "top-k-file",
        "top-k-0",
        "top-k-101",
        "top-k-empty",
        "top-k-signed",
        "top-k-arabic-digit",
        "top-k-four-digits",
    ],
)
def test_anything_else_is_left_to_the_route(plain):
    assert identify_args(plain) is None
