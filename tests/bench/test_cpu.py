"""CPU accounting of the service process (from /proc) and of the load generator."""

import os
import subprocess
import sys
import time

import pytest

from bench.cpu import own_cpu_s, per_request_ms, process_cpu_s


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="needs Linux /proc")
def test_process_cpu_s_grows_while_a_child_spins():
    child = subprocess.Popen(
        [sys.executable, "-c", "import time\nt = time.time()\nwhile time.time() - t < 0.6: pass"]
    )
    try:
        time.sleep(0.05)
        first = process_cpu_s(child.pid)
        time.sleep(0.4)
        second = process_cpu_s(child.pid)  # spins for 0.6 s of wall time: well over 0.1 s of CPU
    finally:
        child.wait()
    assert first is not None and second is not None and second - first >= 0.1


def test_process_cpu_s_of_a_process_that_is_gone_is_none():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert process_cpu_s(child.pid) is None


def test_own_cpu_s_counts_this_process():
    start = own_cpu_s()
    deadline = time.perf_counter() + 5.0
    while own_cpu_s() - start < 0.05 and time.perf_counter() < deadline:  # spin; a busy machine is slower
        pass
    assert own_cpu_s() - start >= 0.05


def test_per_request_ms_divides_and_guards():
    assert per_request_ms(1.5, 1000) == 1.5
    assert per_request_ms(None, 10) is None and per_request_ms(1.0, 0) is None
