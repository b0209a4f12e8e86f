"""What a process costs, read from ``/proc`` (Linux; no dependency).

CPU seconds are user + system time of every thread of the process
(``/proc/PID/stat`` fields 14 and 15, in clock ticks), resident memory is
``VmRSS`` from ``/proc/PID/status``. :func:`host_cpu` reads ``/proc/stat``
so that a run can report the CPU time used by everything else on the host.
"""

from __future__ import annotations

import os
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def rss_bytes(pid: int) -> int:
    """Resident set size of process ``pid``."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def host_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole host since boot, from ``/proc/stat``."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    total = sum(values[:8])
    return (total - idle) / _TICK, total / _TICK


def self_cpu() -> float:
    """CPU seconds of this process (the load generator)."""
    times = os.times()
    return times.user + times.system


def listen_overflows() -> int | None:
    """TcpExt ListenOverflows from ``/proc/net/netstat``: connections dropped because a
    listening socket's accept queue (its backlog) was full; the client retries its SYN
    after 1 s, then 3 s..."""
    try:
        lines = Path("/proc/net/netstat").read_text().splitlines()
    except OSError:
        return None
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            table = dict(zip(names.split()[1:], values.split()[1:], strict=False))
            value = table.get("ListenOverflows")
            return int(value) if value is not None else None
    return None
