"""The deadlines' watchdog: one thread, callbacks at their due times, cancelled ones never run."""

from __future__ import annotations

import threading
import time

from gallery.postgres import watchdog as watchdog_module
from gallery.postgres.watchdog import Watchdog


def _recorder() -> tuple[list, threading.Condition]:
    return [], threading.Condition()


def _noter(ran: list, cond: threading.Condition, *, timed: bool = False):
    """note(tag) -> a callback that records tag (with the time, if `timed`) and wakes the waiters."""

    def note(tag):
        def callback():
            with cond:
                ran.append((tag, time.monotonic()) if timed else tag)
                cond.notify_all()

        return callback

    return note


def _wait_for(cond: threading.Condition, done, timeout: float = 5.0) -> bool:
    with cond:
        return cond.wait_for(done, timeout)


def test_an_alarm_runs_at_its_due_time_and_a_cancelled_one_never():
    dog = Watchdog(name="test-watchdog")
    ran, cond = _recorder()
    note = _noter(ran, cond, timed=True)
    start = time.monotonic()
    dog.arm(0.2, note("kept"))
    dog.arm(0.1, note("cancelled")).cancel()
    assert _wait_for(cond, lambda: ran)
    time.sleep(0.2)  # past the cancelled one's due time too
    assert [tag for tag, _ in ran] == ["kept"]
    assert ran[0][1] - start >= 0.2
    assert dog.pending() == 0


def test_an_earlier_alarm_armed_later_wakes_the_sleeping_thread():
    dog = Watchdog(name="test-watchdog")
    ran, cond = _recorder()
    note = _noter(ran, cond)
    late = dog.arm(30.0, note("late"))
    time.sleep(0.05)  # the thread now sleeps towards the 30 s alarm
    start = time.monotonic()
    dog.arm(0.05, note("early"))
    assert _wait_for(cond, lambda: ran, timeout=2.0)
    assert ran == ["early"] and time.monotonic() - start < 2.0
    late.cancel()


def test_a_failing_callback_does_not_stop_the_later_ones(caplog):
    dog = Watchdog(name="test-watchdog")
    ran, cond = _recorder()

    def boom():
        raise RuntimeError("boom")

    def ok():
        with cond:
            ran.append("ok")
            cond.notify_all()

    dog.arm(0.01, boom)
    dog.arm(0.05, ok)
    assert _wait_for(cond, lambda: ran)
    assert "a deadline's callback failed" in caplog.text


def test_one_thread_serves_every_alarm_and_cancelled_ones_do_not_pile_up(monkeypatch):
    monkeypatch.setattr(watchdog_module, "COMPACT_EVERY", 64)
    dog = Watchdog(name="test-watchdog-many")
    keeper = dog.arm(60.0, lambda: None)  # a live alarm at the top keeps the cancelled ones behind it
    for _ in range(1000):
        dog.arm(30.0, lambda: None).cancel()
    assert sum(t.name == "test-watchdog-many" for t in threading.enumerate()) == 1
    assert dog.pending() == 1
    assert len(dog._due) <= 2 * 64
    keeper.cancel()


def test_arming_and_cancelling_is_cheaper_than_a_timer_thread():
    dog = Watchdog(name="test-watchdog-cost")
    n = 2000
    start = time.perf_counter()
    for _ in range(n):
        dog.arm(30.0, lambda: None).cancel()
    ours = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(n):
        timer = threading.Timer(30.0, lambda: None)
        timer.daemon = True
        timer.start()
        timer.cancel()
    timers = time.perf_counter() - start
    assert ours < timers / 3, (ours, timers)


def test_an_infinite_deadline_leaves_the_others_working():
    dog = Watchdog(name="test-watchdog-inf")
    ran, cond = _recorder()
    dog.arm(float("inf"), _noter(ran, cond)("never"))
    dog.arm(1e12, _noter(ran, cond)("never either"))
    time.sleep(0.05)
    dog.arm(0.05, _noter(ran, cond)("soon"))
    assert _wait_for(cond, lambda: ran, timeout=2.0)
    assert ran == ["soon"]


def test_an_alarm_cancelled_while_an_earlier_one_of_its_batch_runs_does_not_run():
    dog = Watchdog(name="test-watchdog-batch")
    ran, cond = _recorder()
    second = None

    def first():
        second.cancel()  # both were due together; this one runs first and cancels the other
        _noter(ran, cond)("first")()

    dog.arm(0.2, first)  # due together, as far as the clock can tell at the wake-up
    second = dog.arm(0.2, _noter(ran, cond)("second"))
    assert _wait_for(cond, lambda: ran)
    time.sleep(0.1)
    assert ran == ["first"]
