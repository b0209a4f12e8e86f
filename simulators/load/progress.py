"""The live progress line of a load run, on stderr, at most once a second.

::

    [ 12.0s] run      chargers 5000/5000  calls 12034  answered 12030 (1001/s)
    errors 0  p50 0.8 ms  p99 1.9 ms

(on one line).

Written with a carriage return so it stays on one line; only when stderr is
a terminal and ``--quiet`` is not given (CI logs get the summary alone).
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import TextIO

from simulators.load.fleet import Fleet


def progress_line(fleet: Fleet, previous_answered: int, interval: float) -> tuple[str, int]:
    """The line for ``fleet`` now, and the answered count to pass next time."""
    total = fleet.recorder.total()
    answered = total.answered
    rate = (answered - previous_answered) / interval if interval > 0 else 0.0
    p = total.latency.percentiles((50, 99))
    line = (
        f"[{time.monotonic() - fleet.phase_started:6.1f}s] {fleet.phase:<8} "
        f"chargers {fleet.connected}/{len(fleet.chargers)}  calls {total.sent}  "
        f"answered {answered} ({rate:.0f}/s)  errors {total.errors}  "
        f"p50 {p[50] / 1000:.1f} ms  p99 {p[99] / 1000:.1f} ms"
    )
    return line, answered


class Progress:
    """Redraws the progress line every ``interval`` seconds while running (an owned task)."""

    def __init__(self, fleet: Fleet, stream: TextIO | None = None, interval: float = 1.0) -> None:
        self._fleet = fleet
        self._stream = sys.stderr if stream is None else stream
        self._interval = max(interval, 1.0)
        self._task: asyncio.Task[None] | None = None
        self._width = 0

    @staticmethod
    def wanted(quiet: bool, stream: TextIO | None = None) -> bool:
        target = sys.stderr if stream is None else stream
        return not quiet and target.isatty()

    async def __aenter__(self) -> Progress:
        self._task = asyncio.create_task(self._run(), name="load:progress")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._width:
            self._stream.write("\r" + " " * self._width + "\r")
            self._stream.flush()

    async def _run(self) -> None:
        answered, phase = 0, self._fleet.phase
        while True:
            await asyncio.sleep(self._interval)
            if self._fleet.phase != phase:
                answered, phase = 0, self._fleet.phase
            line, answered = progress_line(self._fleet, answered, self._interval)
            padding = " " * max(0, self._width - len(line))
            self._stream.write("\r" + line + padding)
            self._stream.flush()
            self._width = len(line)
