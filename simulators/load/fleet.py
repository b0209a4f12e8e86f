"""Thousands of simulated chargers in one process, driven in phases (the load generator's core).

::

    async with Fleet(url, chargers, tokens) as fleet:
        connected = await fleet.connect(ramp_up=10)          # upgrade + BootNotification
        report = await fleet.run(Mix.parse("authorize"), duration=10)             # closed loop
        report = await fleet.run(mix, duration=10, rate=1000)                     # open loop
        storm = await fleet.storm()      # drop every connection at once, all reconnect

Each charger behaves like the library's simulators: Basic credentials and its
OCPP subprotocol in the upgrade, BootNotification before anything else, one
CALL outstanding at a time, the gateway's CALLs answered by the default
firmware handlers. A charger whose connection drops during a run connects
and boots again. Each phase returns a summary (see
:class:`~simulators.load.stats.Recorder`); the ``Connect`` pseudo-action
counts upgrade attempts: ``results`` the successes, ``timeouts`` the
attempts that timed out, ``closed`` the TCP failures and ``callerror_codes``
the refusals by HTTP status (``HTTP 401``) or protocol fault.

Every phase is bounded: by its duration plus the time its last unit needs
(each CALL times out after ``call_timeout``), by a unit budget when given,
and by a hard deadline after which the remaining work is cancelled.
"""

from __future__ import annotations

import asyncio
import json
import random
import ssl as ssl_module
import time
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from simulators.answers import main_status
from simulators.frames import Payload
from simulators.handshake import basic_authorization
from simulators.load import wire
from simulators.load.connection import (
    CLOSED,
    READ_BUFFER_BYTES,
    TIMEOUT,
    Endpoint,
    LeanConnection,
    WireCounters,
    open_connection,
)
from simulators.load.histogram import Histogram
from simulators.load.messages import DIALECTS, Dialect16, Dialect201, transaction_of
from simulators.load.mix import Mix
from simulators.load.stats import Recorder

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


@dataclass(frozen=True, slots=True)
class ChargerSpec:
    """Who a simulated charger is: identity, Basic password (None: no credentials), version."""

    charge_point_id: str
    password: str | None
    version: str = "1.6"

    def __post_init__(self) -> None:
        if self.version not in DIALECTS:
            raise ValueError(f"unknown OCPP version {self.version!r} (1.6 or 2.0.1)")


class Charger:
    """One simulated charger's state across connections."""

    __slots__ = (
        "authorization",
        "booted",
        "conn",
        "dialect",
        "energy_wh",
        "index",
        "next_id",
        "picker",
        "rng",
        "sent_at",
        "spec",
        "token_cursor",
    )

    def __init__(self, spec: ChargerSpec, index: int, seed: int) -> None:
        self.spec = spec
        self.index = index
        self.dialect: type[Dialect16] | type[Dialect201] = DIALECTS[spec.version]
        self.authorization = (
            None
            if spec.password is None
            else basic_authorization(spec.charge_point_id, spec.password)
        )
        self.conn: LeanConnection | None = None
        self.booted = False
        self.next_id = 0
        self.sent_at = 0
        self.energy_wh = 0
        self.token_cursor = index
        self.rng = random.Random(seed * 1_000_003 + index)
        self.picker: Any = None

    @property
    def ready(self) -> bool:
        return self.booted and self.conn is not None and self.conn.is_open


OPEN_LOOP_LEAD_SECONDS = 0.5
"""An open-loop run's first unit is due this long after ``run`` is called."""


class Fleet:
    def __init__(
        self,
        url: str,
        chargers: Sequence[ChargerSpec],
        tokens: Sequence[str] = ("LOAD-TOKEN",),
        *,
        call_timeout: float = 10.0,
        connect_timeout: float = 10.0,
        connect_concurrency: int = 64,
        seed: int = 1,
        ssl: ssl_module.SSLContext | None = None,
    ) -> None:
        if not tokens:
            raise ValueError("give at least one token")
        self.endpoint = Endpoint(url, ssl)
        self.chargers = [Charger(spec, i, seed) for i, spec in enumerate(chargers)]
        self.tokens = list(tokens)
        self.call_timeout = call_timeout
        self.connect_timeout = connect_timeout
        self.connect_concurrency = max(1, connect_concurrency)
        self.counters = WireCounters()
        self.recorder = Recorder()
        self.phase = "idle"
        self.phase_started = time.monotonic()
        self.reconnects = 0
        self._semaphore: asyncio.Semaphore | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._waiting: set[Charger] = set()
        """Chargers with a CALL in flight: what the watchdog looks at (not all of them)."""
        self._budget: int | None = None
        self._read_buffer = bytearray(READ_BUFFER_BYTES)

    # Lifecycle

    async def __aenter__(self) -> Self:
        self._semaphore = asyncio.Semaphore(self.connect_concurrency)
        self._watchdog = asyncio.create_task(self._watch(), name="load:watchdog")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self, timeout: float = 3.0) -> None:
        """Close every connection (closing handshake, then abort after ``timeout``)."""
        conns = [ch.conn for ch in self.chargers if ch.conn is not None]
        for ch in self.chargers:
            ch.conn, ch.booted = None, False
        for conn in conns:
            conn.close()
        if conns:
            await asyncio.wait([conn.closed for conn in conns], timeout=timeout)
            for conn in conns:
                if not conn.closed.done():
                    conn.abort()
            await asyncio.wait([conn.closed for conn in conns], timeout=1.0)
        if self._watchdog is not None:
            self._watchdog.cancel()
            await asyncio.gather(self._watchdog, return_exceptions=True)
            self._watchdog = None

    @property
    def connected(self) -> int:
        """Chargers connected and booted now."""
        return sum(1 for ch in self.chargers if ch.ready)

    def _begin(self, phase: str) -> Recorder:
        self.recorder = Recorder()
        self.phase = phase
        self.phase_started = time.monotonic()
        return self.recorder

    # Phase: connect

    async def connect(self, *, ramp_up: float = 0.0, timeout: float = 300.0) -> dict[str, Any]:
        """Connect and boot every charger not connected yet, starts spread over ``ramp_up``."""
        recorder = self._begin("connect")
        started = time.monotonic()
        deadline = started + timeout
        waiting = [ch for ch in self.chargers if not ch.ready]
        step = ramp_up / len(waiting) if waiting else 0.0

        async def one(ch: Charger, delay: float) -> bool:
            if delay > 0:
                await asyncio.sleep(delay)
            return await self._connect_and_boot(ch, deadline, retry=False)

        outcomes = await self._bounded([one(ch, i * step) for i, ch in enumerate(waiting)], timeout)
        seconds = time.monotonic() - started
        return {
            "attempted": len(waiting),
            "connected": sum(1 for ok in outcomes if ok is True),
            "failed": sum(1 for ok in outcomes if ok is not True),
            **recorder.summary(seconds),
        }

    # Phase: run

    async def run(
        self,
        mix: Mix,
        *,
        duration: float,
        rate: float | None = None,
        max_units: int | None = None,
        think_time: float = 0.0,
    ) -> dict[str, Any]:
        """Every connected charger does units of ``mix`` for ``duration`` seconds.

        Closed loop (``rate`` None): each charger starts its next unit as soon as
        the previous one ends (after ``think_time``). Open loop: units start at
        ``rate`` per second in total, each charger on its own fixed schedule; a
        charger still busy when its next unit is due starts it late, and the
        lateness is reported as ``schedule_lag_ms``.
        """
        recorder = self._begin("run")
        active = [ch for ch in self.chargers if ch.ready]
        self._budget = max_units
        lag = Histogram()
        for ch in active:
            ch.picker = mix.picker(ch.rng)
        # Open loop: the schedule starts once every charger's task exists (creating
        # thousands takes tens of ms; units due meanwhile would all go out in one burst).
        started = time.monotonic() + (OPEN_LOOP_LEAD_SECONDS if rate else 0.0)
        stop_at = started + duration
        if rate is not None and rate > 0:
            interval = len(active) / rate
            drivers = [
                self._open_loop(ch, mix, started + k / rate, interval, stop_at, lag)
                for k, ch in enumerate(active)
            ]
        else:
            drivers = [self._closed_loop(ch, mix, stop_at, think_time) for ch in active]
        tail = self.call_timeout * (mix.session_meter_values + 3) + 5.0
        await self._bounded(drivers, duration + tail)
        seconds = time.monotonic() - started
        summary: dict[str, Any] = {
            "mode": "closed" if rate is None else "open",
            "chargers": len(active),
            **recorder.summary(seconds),
        }
        if rate is not None:
            summary["rate_target"] = rate
            summary["schedule_lag_ms"] = lag.summary_ms()
        return summary

    async def _closed_loop(self, ch: Charger, mix: Mix, stop_at: float, think: float) -> None:
        while time.monotonic() < stop_at and self._take_unit():
            await self._unit(ch, mix, stop_at)
            if think > 0:
                await asyncio.sleep(think)

    async def _open_loop(
        self, ch: Charger, mix: Mix, due: float, interval: float, stop_at: float, lag: Histogram
    ) -> None:
        while due < stop_at:
            now = time.monotonic()
            if due > now:
                await asyncio.sleep(due - now)
                now = time.monotonic()
            lag.record(int((now - due) * 1_000_000))
            if not self._take_unit():
                return
            await self._unit(ch, mix, stop_at)
            due += interval

    def _take_unit(self) -> bool:
        if self._budget is None:
            return True
        if self._budget <= 0:
            return False
        self._budget -= 1
        return True

    async def _unit(self, ch: Charger, mix: Mix, stop_at: float) -> None:
        if not ch.ready:
            if not await self._reconnect(ch, stop_at):
                return
        unit = ch.picker.next()
        self.recorder.units[unit] += 1
        d = ch.dialect
        if unit == "authorize":
            await self.call(ch, *d.authorize(self._token(ch)))
        elif unit == "heartbeat":
            await self.call(ch, *d.heartbeat())
        elif unit == "status":
            await self.call(ch, *d.status())
        elif unit == "meter":
            ch.energy_wh += 100
            await self.call(ch, *d.meter(ch.energy_wh))
        else:
            await self._session(ch, mix.session_meter_values)

    async def _session(self, ch: Charger, meter_values: int) -> None:
        """Start, ``meter_values`` meter values, Stop (OCPP 1.6 §4.8-§4.10, 2.0.1 E01-E06).

        A start the gateway does not accept is stopped at once (1.6 §4.8:
        ``StopTransactionOnInvalidId``; 2.0.1 E05), as firmware does.
        """
        sessions = self.recorder.sessions
        d = ch.dialect
        ch.energy_wh += 10
        action, request = d.start(self._token(ch), ch.energy_wh)
        answer = await self.call(ch, action, request)
        if answer is None:
            sessions["failed"] += 1
            return
        transaction = transaction_of(d.version, request, answer)
        if main_status(answer) not in (None, "Accepted"):
            action, request = d.stop(transaction, 1, ch.energy_wh)
            ok = await self.call(ch, action, request) is not None
            sessions["deauthorized" if ok else "failed"] += 1
            return
        for seq_no in range(1, meter_values + 1):
            ch.energy_wh += 100
            if await self.call(ch, *d.update(transaction, seq_no, ch.energy_wh)) is None:
                sessions["failed"] += 1
                return
        action, request = d.stop(transaction, meter_values + 1, ch.energy_wh)
        sessions["completed" if await self.call(ch, action, request) is not None else "failed"] += 1

    def _token(self, ch: Charger) -> str:
        tokens = self.tokens
        token = tokens[ch.token_cursor % len(tokens)]
        ch.token_cursor += len(self.chargers)
        return token

    async def _reconnect(self, ch: Charger, stop_at: float) -> bool:
        """A charger that lost its connection during a run comes back (after a short pause)."""
        if ch.conn is not None:
            ch.conn.abort()
            ch.conn = None
        ch.booted = False
        while time.monotonic() < stop_at:
            await asyncio.sleep(0.2 + ch.rng.random() * 0.3)
            self.reconnects += 1
            if await self._connect_and_boot(ch, stop_at, retry=False):
                return True
        return False

    # Phase: reconnect storm

    async def storm(self, *, timeout: float = 300.0) -> dict[str, Any]:
        """Drop every connection at once; each charger reconnects and boots again at once,
        retrying until ``timeout``. Reports the time until every one is booted again."""
        recorder = self._begin("storm")
        victims = [ch for ch in self.chargers if ch.ready]
        started = time.monotonic()
        deadline = started + timeout
        for ch in victims:
            assert ch.conn is not None
            ch.conn.abort()
            ch.conn, ch.booted = None, False
        back = Histogram()

        async def one(ch: Charger) -> bool:
            ok = await self._connect_and_boot(ch, deadline, retry=True)
            if ok:
                back.record(int((time.monotonic() - started) * 1_000_000))
            return ok

        outcomes = await self._bounded([one(ch) for ch in victims], timeout)
        seconds = time.monotonic() - started
        rebooted = sum(1 for ok in outcomes if ok is True)
        return {
            "chargers": len(victims),
            "rebooted": rebooted,
            "failed": len(victims) - rebooted,
            "seconds_to_all_booted": round(back.max / 1_000_000, 3)
            if rebooted == len(victims)
            else None,
            "rebooted_after_ms": back.summary_ms(),
            **recorder.summary(seconds),
        }

    # Connecting and calling

    async def _connect_and_boot(self, ch: Charger, deadline: float, *, retry: bool) -> bool:
        """Upgrade then BootNotification (OCPP-J 1.6 §3, 2.0.1 B01); with ``retry``, try
        again after a failure (0.2-0.7 s apart) until ``deadline``."""
        semaphore = self._semaphore
        assert semaphore is not None, "use Fleet in `async with`"
        stats = self.recorder.action("Connect")
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            conn = None
            async with semaphore:
                stats.sent += 1
                started = time.perf_counter_ns()
                try:
                    conn = await open_connection(
                        self.endpoint,
                        ch.spec.charge_point_id,
                        authorization=ch.authorization,
                        subprotocols=[ch.dialect.subprotocol],
                        answer=ch.dialect.answer,
                        counters=self.counters,
                        timeout=min(self.connect_timeout, remaining),
                        buffer=self._read_buffer,
                    )
                except wire.HandshakeRefused as exc:
                    stats.callerror_codes[f"HTTP {exc.status}"] += 1
                except TimeoutError:
                    stats.timeouts += 1
                except wire.WireError:
                    stats.callerror_codes["protocol"] += 1
                except OSError:
                    stats.closed += 1
                else:
                    stats.results += 1
                    stats.latency.record((time.perf_counter_ns() - started) // 1000)
            if conn is not None:
                ch.conn = conn
                answer = await self.call(ch, *ch.dialect.boot())
                if answer is not None and answer.get("status") == "Accepted":
                    ch.booted = True
                    return True
                conn.close()
                ch.conn = None
            if not retry:
                return False
            await asyncio.sleep(0.2 + ch.rng.random() * 0.5)

    async def call(self, ch: Charger, action: str, payload: Payload) -> Payload | None:
        """One CALL, recorded; the CALLRESULT payload, or None on any other outcome."""
        stats = self.recorder.action(action)
        conn = ch.conn
        stats.sent += 1
        if conn is None:
            stats.closed += 1
            return None
        ch.next_id += 1
        started = time.perf_counter_ns()
        ch.sent_at = started
        self._waiting.add(ch)
        reply = await conn.send_call(str(ch.next_id), action, _dumps(payload))
        elapsed = (conn.answered_ns - started) // 1000
        ch.sent_at = 0
        self._waiting.discard(ch)
        conn.done()
        if reply is CLOSED:
            stats.closed += 1
            return None
        if reply is TIMEOUT:
            stats.timeouts += 1
            return None
        stats.latency.record(elapsed)
        if reply[0] == 3 and len(reply) == 3 and isinstance(reply[2], dict):
            stats.results += 1
            status = main_status(reply[2])
            if status is not None:
                stats.statuses[status] += 1
            return reply[2]
        code = reply[2] if reply[0] == 4 and len(reply) > 2 and isinstance(reply[2], str) else "?"
        stats.callerror_codes[code] += 1
        return None

    async def _watch(self) -> None:
        """Time out CALLs left unanswered for ``call_timeout`` (checked 5 times a second;
        only the chargers waiting for an answer are looked at, so that thousands of idle
        ones do not stall the generator's loop at each check)."""
        limit = int(self.call_timeout * 1_000_000_000)
        while True:
            await asyncio.sleep(0.2)
            now = time.perf_counter_ns()
            for ch in list(self._waiting):
                sent_at = ch.sent_at
                if sent_at and now - sent_at > limit and ch.conn is not None:
                    ch.conn.expire()

    async def _bounded(self, work: list[Any], timeout: float) -> list[Any]:
        """Run coroutines concurrently; cancel what is left after ``timeout``."""
        tasks = [asyncio.ensure_future(coro) for coro in work]
        if not tasks:
            return []
        _, pending = await asyncio.wait(tasks, timeout=timeout)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for task in tasks:
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # a bug in the generator
        return [None if task.cancelled() else task.result() for task in tasks]


def numbered_chargers(
    count: int,
    *,
    prefix: str = "LOAD-CP-",
    start: int = 0,
    width: int = 5,
    password: str | None = None,
    versions: Sequence[str] = ("1.6",),
) -> list[ChargerSpec]:
    """``PREFIX00000``, ``PREFIX00001``...; ``{id}`` / ``{n}`` in ``password`` become the
    identity / number; versions alternate in the order given."""
    specs = []
    for n in range(start, start + count):
        identity = f"{prefix}{n:0{width}d}"
        secret = None if password is None else password.replace("{id}", identity)
        if secret is not None:
            secret = secret.replace("{n}", str(n))
        specs.append(ChargerSpec(identity, secret, versions[(n - start) % len(versions)]))
    return specs
