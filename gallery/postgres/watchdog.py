"""One thread that runs callbacks at their due times, for deadlines that are almost always cancelled.

Every bounded PostgreSQL statement arms a deadline and nearly every one is disarmed a millisecond later. A
`threading.Timer` per statement starts and joins a thread each time (about 0.16 ms on 2 cores); here arming is a
heap push under a lock, disarming a flag, and one daemon thread sleeps until the earliest live due time. A
callback runs on that thread, so it must be short (shutting a socket down is).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

# Cancelled alarms leave the heap when they reach its top; every this many arms, those stuck behind a live
# alarm that is due later are dropped too, so the heap stays near the number of live alarms.
COMPACT_EVERY = 4096
MAX_WAIT_S = 3600.0  # the longest single sleep (Condition.wait refuses more than threading.TIMEOUT_MAX)


class Alarm:
    """One armed callback; `cancel()` disarms it (a no-op once it has run). A cancel that races its due time
    may still see it run: a callback that must not run late guards itself (as `deadline` does)."""

    __slots__ = ("callback", "cancelled")

    def __init__(self, callback: Callable[[], None]) -> None:
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Watchdog:
    """Runs each armed callback once its due time comes, unless it was cancelled first. The thread starts at
    the first `arm` and lives as long as the process (a daemon)."""

    def __init__(self, *, name: str = "pg-deadlines", clock: Callable[[], float] = time.monotonic) -> None:
        self._name = name
        self._clock = clock
        self._due: list[tuple[float, int, Alarm]] = []
        self._order = itertools.count()  # ties broken by arming order, never by comparing alarms
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def arm(self, seconds: float, callback: Callable[[], None]) -> Alarm:
        alarm = Alarm(callback)
        with self._cond:
            order = next(self._order)
            if order % COMPACT_EVERY == 0 and len(self._due) > COMPACT_EVERY:
                self._compact()
            heapq.heappush(self._due, (self._clock() + seconds, order, alarm))
            if self._due[0][2] is alarm:  # the new earliest: wake the thread to sleep less
                self._cond.notify()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
        return alarm

    def _compact(self) -> None:
        """Drop the cancelled alarms that wait behind a live one (under the lock)."""
        self._due = [entry for entry in self._due if not entry[2].cancelled]
        heapq.heapify(self._due)

    def pending(self) -> int:
        """Alarms armed and neither run nor cancelled."""
        with self._cond:
            return sum(not alarm.cancelled for _, _, alarm in self._due)

    def _run(self) -> None:
        while True:
            try:
                due = self._next_due()
            except Exception:  # noqa: BLE001 (the thread serves every later deadline: it must not end)
                log.exception("the deadlines' watchdog failed; it goes on")
                continue
            for alarm in due:
                if alarm.cancelled:  # cancelled while an earlier one of the same batch ran
                    continue
                try:
                    alarm.callback()
                except Exception:  # noqa: BLE001 (one failing callback must not stop every later deadline)
                    log.exception("a deadline's callback failed")

    def _next_due(self) -> list[Alarm]:
        """Wait until some live alarm is due; pop and return every one that is, dropping cancelled ones."""
        with self._cond:
            while True:
                while self._due and self._due[0][2].cancelled:
                    heapq.heappop(self._due)
                if not self._due:
                    self._cond.wait()
                    continue
                wait = self._due[0][0] - self._clock()
                if wait > 0:  # an infinite or huge deadline waits in steps the lock's wait can take
                    self._cond.wait(min(wait, MAX_WAIT_S))
                    continue
                ready = []
                now = self._clock()
                while self._due and self._due[0][0] <= now:
                    _, _, alarm = heapq.heappop(self._due)  # popped: it runs at most once
                    if not alarm.cancelled:
                        ready.append(alarm)
                return ready


WATCHDOG = Watchdog()
