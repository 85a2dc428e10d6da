"""Strict multipart forms and queries: a part sent twice where the route reads it once, a name or text field that
is not valid in the form's charset (UTF-8 unless it says otherwise), or a query parameter the route reads sent
twice, is 422 with our error body; a multipart body that ends before its closing boundary (a client cut off
mid-upload) is 400, where Starlette would hand the route whatever parts had arrived.

Starlette's form parser keeps the last of repeated fields and reads undecodable text as Latin-1 without a
word, so `FormWatch` (pure ASGI middleware) reads every multipart body a second time as it streams to the
route, with python-multipart and without keeping it, and notes each part's name, whether its text decoded and
whether the closing boundary came;
`strict_form`, a dependency of every route, then refuses what the route would otherwise misread. File names
are left as sent: they only appear in messages. `digits_only` keeps a form's whole numbers to plain digits.
"""

from __future__ import annotations

import codecs
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, get_origin

from fastapi import Request, params
from fastapi.routing import APIRoute
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import DuplicateField, TruncatedForm, UndecodableText

SCOPE_KEY = "sg.form_notes"


@dataclass
class FormNotes:
    """What the watcher saw of one multipart body: how often each part name came, the parts whose name or
    text did not decode (by their name as Latin-1, for the message), and whether the closing boundary came
    (None: not known, no body came, it did not parse or its charset is unknown)."""

    names: Counter[str] = field(default_factory=Counter)
    undecodable: list[str] = field(default_factory=list)
    complete: bool | None = None


class _Watcher:
    """python-multipart callbacks that fill `FormNotes`; a body that does not parse stops the watching (the
    route's own parser answers it)."""

    def __init__(self, boundary: bytes, charset: str, notes: FormNotes) -> None:
        self.notes = notes
        self.charset = charset
        self.parser: MultipartParser | None = MultipartParser(boundary, self._callbacks())
        self._header: list[bytes] = []
        self._value: list[bytes] = []
        self._disposition = b""
        self._name = ""
        self._text: Any = None  # the incremental decoder of a text part, None for a file part

    def feed(self, chunk: bytes) -> None:
        if self.parser is None or not chunk:
            return
        if self.notes.complete is None:  # a body has begun (an empty one is the route's to answer)
            self.notes.complete = False
        try:
            self.parser.write(chunk)
        except FormParserError:
            self.parser = None
            self.notes.complete = None

    def _callbacks(self) -> dict[str, Any]:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": lambda data, start, end: self._header.append(data[start:end]),
            "on_header_value": lambda data, start, end: self._value.append(data[start:end]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_end": self._end,
        }

    def _part_begin(self) -> None:
        self._disposition, self._name, self._text = b"", "", None

    def _header_end(self) -> None:
        if b"".join(self._header).lower() == b"content-disposition":
            self._disposition = b"".join(self._value)
        self._header.clear()
        self._value.clear()

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        raw = options.get(b"name", b"")
        self._name = raw.decode("latin-1")
        self.notes.names[self._name] += 1
        if b"filename" not in options:
            self._text = codecs.getincrementaldecoder(self.charset)("strict")
        self._decode(lambda: raw.decode(self.charset))

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._text is not None:
            self._decode(lambda: self._text.decode(data[start:end]))

    def _part_end(self) -> None:
        if self._text is not None:
            self._decode(lambda: self._text.decode(b"", final=True))

    def _end(self) -> None:
        self.notes.complete = True

    def _decode(self, decode: Callable[[], object]) -> None:
        """Run one decode; on failure note the part (once) and stop decoding its text. An exception must not
        leave a callback: python-multipart would stop mid-chunk."""
        try:
            decode()
        except UnicodeDecodeError:
            if self._name not in self.notes.undecodable:
                self.notes.undecodable.append(self._name)
            self._text = None


def _watch(scope: Scope) -> _Watcher | None:
    kind, options = parse_options_header(Headers(scope=scope).get("content-type", ""))
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        return None
    charset = options.get(b"charset", b"utf-8").decode("latin-1")
    notes = FormNotes()
    scope[SCOPE_KEY] = notes
    try:
        codecs.lookup(charset)
    except LookupError:
        notes.undecodable.append(f"(charset {charset})")
        return None
    return _Watcher(boundary, charset, notes)


class FormWatch:
    """Notes each multipart body's parts in `scope` as the route reads it; nothing is buffered or refused here."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        watcher = _watch(scope) if scope["type"] == "http" else None
        if watcher is None:
            await self.app(scope, receive, send)
            return

        async def watched() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                watcher.feed(message.get("body", b""))
            return message

        await self.app(scope, watched, send)


def _list_fields(route: object) -> set[str]:
    """The form parts a route reads as a list (which may come more than once)."""
    if not isinstance(route, APIRoute):
        return set()
    body = route.dependant.body_params
    return {f.alias for f in body if get_origin(f.field_info.annotation) is list}


def _reads_form(route: object) -> bool:
    """Whether the route reads a form, its own fields or its dependencies' (FastAPI's own test; it reads the
    whole body before any dependency runs)."""
    return (
        isinstance(route, APIRoute)
        and route.body_field is not None
        and isinstance(route.body_field.field_info, params.Form)
    )


def _query_fields(route: object) -> set[str]:
    """The query parameters a route reads."""
    if not isinstance(route, APIRoute):
        return set()
    return {f.alias for f in route.dependant.query_params}


def digits_only(value: object) -> object:
    """A form's or a path's whole number must be written in plain ASCII digits: not `5.0`, `+5`, `1_0`, ` 5` or
    `٥` (a validator run before the integer one, which reads all of those)."""
    if isinstance(value, str) and not (value.isascii() and value.isdigit()):
        raise ValueError("must be a whole number written in digits")
    return value


async def strict_form(request: Request) -> None:
    """Refuse a query parameter the route reads sent twice (Starlette keeps the last), and a multipart form with
    undecodable text, cut off before its closing boundary, or with a part sent twice that the route reads once."""
    route = request.scope.get("route")
    reads = _query_fields(route)
    queried = Counter(name for name, _ in request.query_params.multi_items() if name in reads)
    twice = sorted(name for name, count in queried.items() if count > 1)
    if twice:
        raise DuplicateField(f"query parameter sent more than once: {', '.join(map(repr, twice))}")
    notes: FormNotes | None = request.scope.get(SCOPE_KEY)
    if notes is None:
        return
    if notes.undecodable:
        names = ", ".join(repr(name) for name in notes.undecodable)
        raise UndecodableText(f"form text is not valid in the form's charset (UTF-8 by default): {names}")
    if notes.complete is False and _reads_form(route):
        raise TruncatedForm("the multipart body ends before its closing boundary (was the upload cut off?)")
    repeatable = _list_fields(route)
    repeated = sorted(n for n, count in notes.names.items() if count > 1 and n not in repeatable)
    if repeated:
        raise DuplicateField(f"form field sent more than once: {', '.join(map(repr, repeated))}")
