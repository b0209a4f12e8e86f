"""The benchmark's scenarios, each measured the same way against every target.

A measurement wraps one phase of the load generator (:class:`simulators.load.Fleet`)
with the CPU seconds the target used (``/proc``), the CPU seconds the
generator used, and the CPU seconds everything else on the host used in the
meantime (noise: other jobs on a shared machine). Before each measurement
the bench waits (up to 20 s) until other processes use less than
:data:`NOISE_LIMIT` of a core, and a measurement disturbed beyond it is made
once more; the quieter attempt is kept and both the noise and the attempts
are reported.

Scenarios (the issue's list, with the same mix for every target):

``idle``          N chargers connected and booted, idle: RSS per charger;
``fixed-rate``    Authorize at a fixed total rate (open loop) with N connected;
``storm``         every connection dropped at once: time until all booted again;
``authorize-K``   Authorize saturation (closed loop) with K chargers;
``sessions``      full sessions (Start, 10 MeterValues, Stop; durable writes);
``import``        (gateway only) sessions and Heartbeats beside a 100,000-row member
                  import through the API (:mod:`bench.import_isolation`).
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bench import dataset, procstat
from bench.targets import Target
from simulators.load import Fleet, Mix, numbered_chargers


@dataclass(frozen=True)
class Plan:
    """How big and how long; ``quick`` shrinks everything for a smoke run."""

    members: int = 100_000
    stations: int = 5000
    saturation: tuple[int, ...] = (10, 100, 1000)
    saturation_seconds: float = 8.0
    fixed_chargers: int = 5000
    fixed_rate: float = 1000.0
    fixed_seconds: float = 15.0
    session_chargers: int = 500
    session_seconds: float = 15.0
    session_meter_values: int = 10
    warmup_seconds: float = 2.0
    import_rows: int = 100_000
    import_chargers: int = 100
    import_rate: float = 50.0

    @classmethod
    def quick(cls) -> Plan:
        return cls(
            members=10_000,
            stations=500,
            saturation=(10, 100),
            saturation_seconds=3.0,
            fixed_chargers=500,
            fixed_rate=200.0,
            fixed_seconds=4.0,
            session_chargers=50,
            session_seconds=4.0,
            warmup_seconds=1.0,
            import_rows=10_000,
            import_chargers=20,
            import_rate=20.0,
        )


CONNECT_CONCURRENCY = 64
"""Handshakes in flight at once: below the servers' listen backlog (asyncio's default,
100), so that the kernel does not drop SYNs (retried after 1 s, then 3 s) and the
connect and storm times measure the servers, not TCP's retry timer."""

NOISE_LIMIT = 0.2
"""Cores used by other processes during a measurement above which it is made again."""


@dataclass
class Measured:
    result: dict[str, Any]
    seconds: float
    target_cpu: float
    generator_cpu: float
    other_cpu: float
    listen_overflows: int | None
    attempt: int = 1
    attempts: int = 1
    waited: float = 0.0

    @property
    def noise(self) -> float:
        """Cores used by other processes meanwhile."""
        return max(self.other_cpu, 0.0) / self.seconds if self.seconds else 0.0

    def figures(self) -> dict[str, Any]:
        answered = self.result.get("answered", 0)
        return {
            "wall_seconds": round(self.seconds, 3),
            "target_cpu_seconds": round(self.target_cpu, 3),
            "target_cpu_per_1000_calls": round(1000 * self.target_cpu / answered, 4)
            if answered
            else None,
            "generator_cpu_share": round(self.generator_cpu / self.seconds, 3)
            if self.seconds
            else None,
            "other_cpu_seconds": round(max(self.other_cpu, 0.0), 3),
            "other_cpu_cores": round(self.noise, 3),
            "attempts": self.attempts,
            "attempt_kept": self.attempt,
            "waited_for_quiet_seconds": round(self.waited, 1),
            "listen_overflows": self.listen_overflows,
        }


async def measured(target: Target, work: Awaitable[dict[str, Any]]) -> Measured:
    overflows = procstat.listen_overflows()
    cpu0, gen0, host0, t0 = (
        procstat.cpu_seconds(target.pid),
        procstat.self_cpu(),
        procstat.host_cpu()[0],
        time.monotonic(),
    )
    result = await work
    seconds = time.monotonic() - t0
    target_cpu = procstat.cpu_seconds(target.pid) - cpu0
    generator_cpu = procstat.self_cpu() - gen0
    other = procstat.host_cpu()[0] - host0 - target_cpu - generator_cpu
    after = procstat.listen_overflows()
    dropped = None if overflows is None or after is None else after - overflows
    return Measured(result, seconds, target_cpu, generator_cpu, other, dropped)


async def wait_for_quiet(target: Target, max_wait: float = 20.0) -> float:
    """Wait until other processes use less than NOISE_LIMIT of a core (1-s samples)."""
    started = time.monotonic()
    while time.monotonic() - started < max_wait:
        host0, own0, target0 = procstat.host_cpu()[0], procstat.self_cpu(), target_cpu(target)
        await asyncio.sleep(1.0)
        other = (
            procstat.host_cpu()[0]
            - host0
            - (procstat.self_cpu() - own0)
            - (target_cpu(target) - target0)
        )
        if other < NOISE_LIMIT:
            break
    return time.monotonic() - started


def target_cpu(target: Target) -> float:
    return procstat.cpu_seconds(target.pid)


async def quietly(
    target: Target, work: Callable[[], Awaitable[dict[str, Any]]], attempts: int = 2
) -> Measured:
    """Measure ``work()`` when the host is quiet; again if others disturbed it; the quieter."""
    best: Measured | None = None
    waited = 0.0
    for attempt in range(1, attempts + 1):
        waited += await wait_for_quiet(target)
        current = await measured(target, work())
        current.attempt = attempt
        if best is None or current.noise < best.noise:
            best = current
        if current.noise <= NOISE_LIMIT:
            break
    assert best is not None
    best.attempts = attempt
    best.waited = waited
    return best


def fleet(target: Target, chargers: int, tokens: list[str]) -> Fleet:
    specs = numbered_chargers(
        chargers,
        prefix="BENCH-CP-",
        password=dataset.STATION_PASSWORD,
        versions=("1.6", "2.0.1"),
    )
    return Fleet(
        target.url, specs, tokens, connect_concurrency=CONNECT_CONCURRENCY, call_timeout=10.0
    )


def _settle() -> None:
    """Keep the generator's own garbage collections out of the measured latencies."""
    gc.collect()
    gc.freeze()


async def idle_fixed_and_storm(target: Target, plan: Plan) -> dict[str, Any]:
    """Connect N chargers (RSS per idle charger), run the fixed rate, then the storm."""
    out: dict[str, Any] = {}
    tokens = dataset.authorize_tokens(plan.members)
    await asyncio.sleep(1.0)
    rss_before = procstat.rss_bytes(target.pid)
    async with fleet(target, plan.fixed_chargers, tokens) as chargers:
        connect = await measured(target, chargers.connect(timeout=600))
        _settle()
        await asyncio.sleep(3.0)
        rss_after = procstat.rss_bytes(target.pid)
        connected = connect.result["connected"]
        out["idle"] = {
            "chargers": connected,
            "connect": {**connect.result, **connect.figures()},
            "rss_before_bytes": rss_before,
            "rss_after_bytes": rss_after,
            "rss_per_charger_bytes": round((rss_after - rss_before) / connected)
            if connected
            else None,
        }
        mix = Mix.parse("authorize")
        await chargers.run(mix, duration=plan.warmup_seconds, rate=plan.fixed_rate)
        fixed = await quietly(
            target, lambda: chargers.run(mix, duration=plan.fixed_seconds, rate=plan.fixed_rate)
        )
        out["fixed-rate"] = {**fixed.result, **fixed.figures()}
        storm = await quietly(target, lambda: chargers.storm(timeout=300))
        out["storm"] = {**storm.result, **storm.figures()}
    gc.unfreeze()
    return out


async def saturation(target: Target, plan: Plan, chargers: int) -> dict[str, Any]:
    tokens = dataset.authorize_tokens(plan.members)
    async with fleet(target, chargers, tokens) as group:
        connected = await group.connect(timeout=300)
        _settle()
        mix = Mix.parse("authorize")
        await group.run(mix, duration=plan.warmup_seconds)
        run = await quietly(target, lambda: group.run(mix, duration=plan.saturation_seconds))
    gc.unfreeze()
    return {"connected": connected["connected"], **run.result, **run.figures()}


async def sessions(target: Target, plan: Plan) -> dict[str, Any]:
    tokens = dataset.session_tokens(plan.members)
    mix = Mix.parse("session", plan.session_meter_values)
    async with fleet(target, plan.session_chargers, tokens) as group:
        connected = await group.connect(timeout=300)
        _settle()
        await group.run(mix, duration=plan.warmup_seconds)
        run = await quietly(target, lambda: group.run(mix, duration=plan.session_seconds))
    gc.unfreeze()
    return {"connected": connected["connected"], **run.result, **run.figures()}
