"""`identify_args`: the plain identify form gives the route's arguments; anything the route reads otherwise
(or rejects) gives None, for the route to answer."""

from __future__ import annotations

import pytest
from fastapi import UploadFile

from app.hotpath import IdentifyArgs, identify_args
from app.imaging import Upload
from app.plainform import FilePart, PlainForm
from app.routes import identify

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


# two different values of each kind of form part the identify route reads, as the hot path receives them
SAMPLES: dict[type, tuple[str | FilePart, str | FilePart]] = {
    str: ("faces", "staff"),
    int: ("2", "3"),
    UploadFile: (FilePart("a.png", b"one"), FilePart("b.png", b"two")),
}


def test_the_hot_path_reads_every_form_part_the_route_declares():
    params = identify.route().dependant.body_params
    assert params, "the identify route declares its form parts"
    for param in params:
        kind = param.field_info.annotation
        assert kind in SAMPLES, (
            f"route part {param.alias!r} ({kind}): teach app.hotpath and this test about it"
        )
    for changed in params:
        answers = []
        for sample in (0, 1):
            fields, files = {}, {}
            for param in params:
                value = SAMPLES[param.field_info.annotation][sample if param is changed else 0]
                (files if isinstance(value, FilePart) else fields)[param.alias] = value
            answers.append(identify_args(PlainForm(fields=fields, files=files)))
        assert None not in answers and answers[0] != answers[1], f"the hot path ignores {changed.alias!r}"
