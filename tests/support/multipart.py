"""multipart/form-data bodies written out by hand, byte for byte, for tests that need what a client library
would not send (a part cut off, a name that is not UTF-8, a part twice)."""

from __future__ import annotations


def _raw(text: str | bytes) -> bytes:
    return text.encode() if isinstance(text, str) else text


def part(
    name: str | bytes,
    data: bytes,
    *,
    filename: str | bytes | None = None,
    boundary: str = "sg",
    extra: str = "",
) -> bytes:
    """One part: its boundary line, a Content-Disposition (with `filename` when given), `extra` header lines
    (each ending in CRLF), a blank line, the data and its CRLF."""
    disposition = b'form-data; name="' + _raw(name) + b'"'
    if filename is not None:
        disposition += b'; filename="' + _raw(filename) + b'"'
    head = f"--{boundary}\r\nContent-Disposition: ".encode() + disposition + f"\r\n{extra}\r\n".encode()
    return head + data + b"\r\n"


def closing(boundary: str = "sg") -> bytes:
    return f"--{boundary}--\r\n".encode()


def form(*parts: bytes, boundary: str = "sg") -> bytes:
    """The parts and the closing boundary."""
    return b"".join(parts) + closing(boundary)
