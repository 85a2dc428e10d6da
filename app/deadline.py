"""DeadlineProbe: asks one question of the store for `/ready` (how far each gallery is behind the other
replicas' writes; does a failed write now succeed?) on a thread of its own and for at most a deadline. A
database server that hangs (it accepts, then never answers) makes `/ready` say so at once instead of hanging
it, and holds one thread, never one per probe: while a question is still unanswered, the next probe waits on
that same question."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from threading import Lock
from typing import TypeVar

T = TypeVar("T")


class DeadlineProbe:
    def __init__(self, *, deadline_s: float = 1.0, thread_name: str = "ready-probe") -> None:
        self.deadline_s = deadline_s
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=thread_name)
        self._pending: Future | None = None
        self._lock = Lock()

    def ask(self, question: Callable[[], T]) -> T | None:
        """`question()`'s answer, or None when it takes longer than the deadline (it goes on; the next call
        waits for it rather than asking again)."""
        with self._lock:
            if self._pending is None or self._pending.done():
                self._pending = self._executor.submit(question)
            pending = self._pending
        try:
            return pending.result(timeout=self.deadline_s)
        except FutureTimeout:
            return None

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
