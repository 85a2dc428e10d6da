"""A strict reading of a small multipart/form-data body, for the identify hot path (`app.hotpath`).

Parsed by python-multipart, the parser FastAPI's own form handling uses, but without FastAPI's per-request
machinery (spooled temporary files, a form multidict, validation models). It reads only the plain case:
UTF-8, every part named once, no transfer encoding, a handful of parts, fields of at most 1 MiB. Anything
else answers `None`, and the caller hands the request to the regular route, which gives the documented
answer or error; so this reader never has to reproduce an error of its own.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from typing import Any

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.formparsers import MultiPartParser as StarletteParser

MAX_PARTS = 16
MAX_FIELD_BYTES = StarletteParser.max_part_size  # the cap on a form field FastAPI's own parsing applies


@dataclass(frozen=True)
class FilePart:
    """An uploaded file: its filename as sent (possibly empty) and its bytes."""

    filename: str
    data: bytes


@dataclass(frozen=True)
class PlainForm:
    """The fields and files of a form, each name once."""

    fields: dict[str, str]
    files: dict[str, FilePart]


class _Parts:
    """Collects each part's headers and bytes from python-multipart's callbacks."""

    def __init__(self) -> None:
        self.parts: list[tuple[dict[bytes, bytes], bytes]] = []
        self.ended = False
        self.odd = False  # a header repeated within a part, or too many parts
        self._headers: dict[bytes, bytes] = {}
        self._name: list[bytes] = []
        self._value: list[bytes] = []
        self._data: list[bytes] = []

    def callbacks(self) -> dict[str, Any]:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": lambda data, start, end: self._name.append(data[start:end]),
            "on_header_value": lambda data, start, end: self._value.append(data[start:end]),
            "on_header_end": self._header_end,
            "on_part_data": lambda data, start, end: self._data.append(data[start:end]),
            "on_part_end": self._part_end,
            "on_end": self._end,
        }

    def _part_begin(self) -> None:
        self._headers, self._data = {}, []

    def _header_end(self) -> None:
        name = b"".join(self._name).lower()
        self.odd |= name in self._headers
        self._headers[name] = b"".join(self._value)
        self._name.clear()
        self._value.clear()

    def _part_end(self) -> None:
        self.parts.append((self._headers, b"".join(self._data)))
        self.odd |= len(self.parts) > MAX_PARTS

    def _end(self) -> None:
        self.ended = True


def read_plain_form(content_type: bytes, body: bytes) -> PlainForm | None:
    """The form in `body`, or None when it is not a plain, complete multipart form (see the module doc)."""
    kind, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary or not _is_utf8(options.get(b"charset", b"utf-8")):
        return None
    collected = _Parts()
    try:
        parser = MultipartParser(boundary, collected.callbacks())
        parser.write(body)
        parser.finalize()
    except FormParserError:
        return None
    if not collected.ended or collected.odd:
        return None
    fields: dict[str, str] = {}
    files: dict[str, FilePart] = {}
    for headers, data in collected.parts:
        part = _read_part(headers, data)
        if part is None or part[0] in fields or part[0] in files:
            return None
        name, value = part
        if isinstance(value, FilePart):
            files[name] = value
        else:
            fields[name] = value
    return PlainForm(fields=fields, files=files)


def _read_part(headers: dict[bytes, bytes], data: bytes) -> tuple[str, str | FilePart] | None:
    if b"content-transfer-encoding" in headers or b"content-disposition" not in headers:
        return None
    _, options = parse_options_header(headers[b"content-disposition"])
    name = _utf8(options.get(b"name"))
    if name is None:
        return None
    if b"filename" in options:
        filename = _utf8(options[b"filename"])
        return None if filename is None else (name, FilePart(filename, data))
    value = _utf8(data) if len(data) <= MAX_FIELD_BYTES else None
    return None if value is None else (name, value)


def _is_utf8(charset: bytes) -> bool:
    try:
        return codecs.lookup(charset.decode("latin-1")).name == "utf-8"
    except LookupError:
        return False


def _utf8(raw: bytes | None) -> str | None:
    if raw is None:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
