"""A DNS name whose A records a test changes while it runs (dnspython over UDP on loopback), standing in for
Docker's embedded DNS answering a scaled service's name with one address per container."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset


class Name:
    """`name`'s A records, as the server answers them now (TTL 0, so a resolver caches by its own `valid`)."""

    def __init__(self, name: str, addresses: list[str]) -> None:
        self.name = name if name.endswith(".") else name + "."
        self.addresses = list(addresses)
        self.lock = threading.Lock()

    def set(self, addresses: list[str]) -> None:
        with self.lock:
            self.addresses = list(addresses)

    def answer(self, wire: bytes) -> bytes:
        query = dns.message.from_wire(wire)
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        (question,) = query.question
        if question.name.to_text().lower() != self.name:
            response.set_rcode(dns.rcode.NXDOMAIN)
        elif question.rdtype == dns.rdatatype.A:
            with self.lock:
                addresses = list(self.addresses)
            if addresses:
                response.answer.append(dns.rrset.from_text_list(self.name, 0, "IN", "A", addresses))
        return response.to_wire()


@contextmanager
def serving(name: Name) -> Iterator[int]:
    """Answers queries for `name` on a free loopback UDP port (yielded) until the block ends."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                wire, client = sock.recvfrom(4096)
            except TimeoutError:
                continue
            sock.sendto(name.answer(wire), client)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=5)
        sock.close()
