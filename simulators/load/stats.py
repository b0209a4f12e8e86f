"""What the load generator counts, per action: outcomes, answer statuses, latencies.

Every CALL sent ends in exactly one outcome, so ``sent == results +
callerrors + timeouts + closed`` once a run has finished: ``results`` (a
CALLRESULT), ``callerrors`` (a CALLERROR, by code), ``timeouts`` (no answer
within the call timeout) or ``closed`` (the connection ended first).
Latencies (monotonic clock, from just before the CALL is written to the moment
its answer is read off the socket, not when the waiting coroutine resumes) go to a
:class:`~simulators.load.histogram.Histogram` per action.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from simulators.load.histogram import Histogram

OUTCOMES = ("results", "callerrors", "timeouts", "closed")


class ActionStats:
    __slots__ = ("callerror_codes", "closed", "latency", "results", "sent", "statuses", "timeouts")

    def __init__(self) -> None:
        self.sent = 0
        self.results = 0
        self.timeouts = 0
        self.closed = 0
        self.latency = Histogram()
        self.statuses: Counter[str] = Counter()
        self.callerror_codes: Counter[str] = Counter()

    @property
    def callerrors(self) -> int:
        return sum(self.callerror_codes.values())

    @property
    def answered(self) -> int:
        return self.results + self.callerrors

    @property
    def errors(self) -> int:
        return self.callerrors + self.timeouts + self.closed

    def merge(self, other: ActionStats) -> None:
        self.sent += other.sent
        self.results += other.results
        self.timeouts += other.timeouts
        self.closed += other.closed
        self.latency.merge(other.latency)
        self.statuses.update(other.statuses)
        self.callerror_codes.update(other.callerror_codes)

    def summary(self, seconds: float) -> dict[str, Any]:
        out: dict[str, Any] = {
            "sent": self.sent,
            "results": self.results,
            "callerrors": self.callerrors,
            "timeouts": self.timeouts,
            "closed": self.closed,
            "rate": round(self.answered / seconds, 1) if seconds > 0 else 0.0,
            "latency_ms": self.latency.summary_ms(),
        }
        if self.statuses:
            out["statuses"] = dict(sorted(self.statuses.items()))
        if self.callerror_codes:
            out["callerror_codes"] = dict(sorted(self.callerror_codes.items()))
        return out


class Recorder:
    """The stats of one phase of a run: by action, plus mix units and sessions by outcome."""

    __slots__ = ("actions", "sessions", "units")

    def __init__(self) -> None:
        self.actions: dict[str, ActionStats] = {}
        self.units: Counter[str] = Counter()
        self.sessions: Counter[str] = Counter()

    def action(self, name: str) -> ActionStats:
        stats = self.actions.get(name)
        if stats is None:
            stats = self.actions[name] = ActionStats()
        return stats

    def total(self) -> ActionStats:
        total = ActionStats()
        for stats in self.actions.values():
            total.merge(stats)
        return total

    def summary(self, seconds: float) -> dict[str, Any]:
        total = self.total()
        out: dict[str, Any] = {
            "seconds": round(seconds, 3),
            "sent": total.sent,
            "answered": total.answered,
            "errors": total.errors,
            "throughput": round(total.answered / seconds, 1) if seconds > 0 else 0.0,
            "latency_ms": total.latency.summary_ms(),
            "actions": {name: s.summary(seconds) for name, s in sorted(self.actions.items())},
        }
        if self.units:
            out["units"] = dict(sorted(self.units.items()))
        if self.sessions:
            completed = self.sessions["completed"]
            out["sessions"] = {
                **dict(sorted(self.sessions.items())),
                "rate": round(completed / seconds, 1) if seconds > 0 else 0.0,
            }
        return out
