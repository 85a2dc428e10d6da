"""CPU seconds used by a process: the service (by pid, from /proc) and the load generator (this process).

Divided by the requests of a run, they say where a request's CPU goes on a machine whose cores the two share.
"""

from __future__ import annotations

import os
import time
from pathlib import Path


def process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of process `pid` and all its threads; None where /proc cannot tell (not Linux,
    or the process is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)": the comm may hold spaces
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime (fields 14, 15)


def own_cpu_s() -> float:
    """CPU seconds of this process, every thread."""
    return time.process_time()


def per_request_ms(seconds: float | None, requests: int) -> float | None:
    """CPU milliseconds per request, rounded; None without a measurement or without requests."""
    if seconds is None or requests <= 0:
        return None
    return round(seconds * 1000 / requests, 3)
