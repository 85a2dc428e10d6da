"""DeadlineProbe: /ready's questions to the database answered within a deadline, one at a time."""

from __future__ import annotations

import threading
import time

from app.deadline import DeadlineProbe


def test_a_question_past_the_deadline_answers_none_and_is_not_asked_twice():
    probe = DeadlineProbe(deadline_s=0.1)
    release, asked = threading.Event(), []

    def hanging() -> str:
        asked.append(1)
        release.wait(5)
        return "behind: 0"

    try:
        started = time.monotonic()
        assert probe.ask(hanging) is None and time.monotonic() - started < 0.5
        assert probe.ask(hanging) is None  # still unanswered: waited on, not asked again
        assert len(asked) == 1
        release.set()
        time.sleep(0.05)
        assert probe.ask(lambda: "fresh") in ("behind: 0", "fresh")
        assert probe.ask(lambda: "fresh") == "fresh"  # once answered, the next call asks anew
    finally:
        release.set()
        probe.close()
