"""Holding a lock from a second thread, as a long write (an index rebuild) does, for tests of waiting."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def held_elsewhere(lock: Any) -> Iterator[None]:
    """`lock` is held by another thread for the whole block, then released."""
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with lock:
            held.set()
            release.wait(timeout=30)

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    if not held.wait(timeout=10):
        raise RuntimeError("the holding thread never took the lock")
    try:
        yield
    finally:
        release.set()
        thread.join()
