"""Garbage collection with thousands of connected chargers: short pauses, no leak.

Each connected charger holds some thousand Python objects (its WebSocket,
tasks, buffers, session) for days. CPython's full collection traverses all
of them: 0.3-0.6 s with 5,000 chargers, every few seconds while chargers
connect and again whenever enough new objects accumulate, and every Authorize
waiting meanwhile waits that long.

:class:`HeapSteward` moves what has settled out of the collector's way:
once chargers have stopped arriving for :attr:`quiet` seconds, it collects
(one full pass: the garbage of the handshakes is freed, not kept) and
freezes the survivors (`gc.freeze`): later collections traverse only what
is newer, a few milliseconds at most. The policy snapshot is frozen the
same way when it is swapped in (``policy_cache.updates``).

A frozen object that becomes garbage in a reference cycle is only freed
after `gc.unfreeze`: a frozen charger that leaves keeps about a hundred
objects until then. When a quarter of the frozen chargers, and at least
:attr:`compact_after`, have left (a reconnect storm, a network going away),
the steward unfreezes, collects once and freezes again, at a quiet moment:
the one long pause (1.3 s with 5,000 chargers gone and a 100,000-member
snapshot), rare, logged and counted. Every collection's pause is measured
(``ocpp_gateway_gc_pause_seconds``).

While it runs, the young generation is collected every
:data:`YOUNG_THRESHOLD` net allocations instead of CPython's 700. Under
durable load, every charger has a handler suspended on its commit (a chain
of coroutines, closures, futures): thousands of young objects alive at any
moment, freed by reference counting, hardly ever in a cycle. With 700, the
collector ran over 100 times a second, promoting them to the middle
generation and traversing them again there: 17-25 % of the core in
collections that freed nothing (500 chargers doing full sessions, measured
with ``gc.callbacks``; sessions per second rose from 257-330 to 385-391
with 50,000). The cost is a longer young collection, a few tens of
milliseconds, a few times a minute under that load; measured like the others.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable
from typing import Any

import structlog

from gateway.metrics import Metrics

log = structlog.get_logger("gateway.heap")

YOUNG_THRESHOLD = 50_000
"""Net allocations of tracked objects between young collections (CPython: 700)."""

_running: list[tuple[int, ...]] = []
"""The thresholds found by the first steward to start, one entry per steward running
(several gateways in one process, as in tests): restored when the last one stops."""


class HeapSteward:
    def __init__(
        self,
        metrics: Metrics,
        *,
        quiet: float = 2.0,
        batch: int = 50,
        compact_after: int = 1000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._metrics = metrics
        self.quiet = quiet
        """Seconds without a charger arriving or leaving before the steward acts."""
        self.batch = batch
        """Chargers arrived since the last freeze below which it does not freeze yet."""
        self.compact_after = compact_after
        """Frozen chargers gone below which it does not compact (nor below a quarter of
        those frozen): a compaction traverses the whole heap, the policy snapshot too."""
        self._clock = clock
        self._epoch = 0  # freezes so far: a charger arrived in an older epoch is frozen
        self._arrived = 0  # since the last freeze
        self._frozen_live = 0  # frozen chargers still connected
        self._frozen_gone = 0  # frozen chargers gone since the last compaction
        self._last_change = clock()
        self._started: float | None = None
        self._generation = 0

    # -- charger arrivals and departures (from the connection handler) --------------------

    def arrived(self) -> int:
        """A charger connected; what to hand back to :meth:`left`."""
        self._arrived += 1
        self._last_change = self._clock()
        return self._epoch

    def left(self, arrived_in: int) -> None:
        if arrived_in < self._epoch:  # frozen: its cyclic garbage waits for a compaction
            self._frozen_live -= 1
            self._frozen_gone += 1
        else:
            self._arrived -= 1
        self._last_change = self._clock()

    # -- the owned loop -------------------------------------------------------------------

    async def run(self, interval: float = 1.0) -> None:
        """Measure every collection's pause; freeze settled chargers (owned by the gateway).

        The young generation's threshold is :data:`YOUNG_THRESHOLD` meanwhile, and
        back to what it was afterwards."""
        before = _running[0] if _running else gc.get_threshold()
        _running.append(before)
        gc.set_threshold(YOUNG_THRESHOLD, *before[1:])
        gc.callbacks.append(self._on_gc)
        try:
            while True:
                await asyncio.sleep(interval)
                self.step()
        finally:
            gc.callbacks.remove(self._on_gc)
            _running.pop()
            if not _running:
                gc.set_threshold(*before)

    def step(self) -> str | None:
        """One look: "freeze", "compact" or None (nothing to do yet)."""
        if self._clock() - self._last_change < self.quiet:
            return None
        frozen = self._frozen_live + self._frozen_gone
        if self._frozen_gone >= max(self.compact_after, frozen // 4):
            gc.unfreeze()
            self._frozen_gone = 0
            self._freeze("compact")
            return "compact"
        if self._arrived >= self.batch:
            self._freeze("freeze")
            return "freeze"
        return None

    def _freeze(self, kind: str) -> None:
        started = time.perf_counter()
        gc.collect()
        gc.freeze()
        self._epoch += 1
        self._frozen_live += self._arrived
        self._arrived = 0
        seconds = time.perf_counter() - started
        self._metrics.gc_freezes.labels(kind).inc()
        log.info(
            "settled objects frozen",
            kind=kind,
            seconds=round(seconds, 3),
            frozen_objects=gc.get_freeze_count(),
            frozen_chargers=self._frozen_live,
        )

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            self._generation = info["generation"]
        elif self._started is not None:
            pause = time.perf_counter() - self._started
            self._started = None
            self._metrics.child(self._metrics.gc_pause_seconds, str(self._generation)).observe(
                pause
            )
