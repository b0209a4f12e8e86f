"""The gateway's own CPU per CALL, without the network: ``python -m bench.inprocess``.

A real gateway (``create_app`` on a copy of the benchmark database, JSON logs
at info level to a file, durable SQLite writes) in this process; simulated
chargers hand their frames straight to :class:`ChargerConnection` (no
WebSocket, no load generator), so the figure is what the gateway itself
spends per CALL (parsing, replay cache, validation, handler, policy
decision, metrics, log line, durable commit for sessions), measured with
``time.process_time()`` (every thread of the process). On a shared machine
it moves much less than throughput over loopback.

* ``--mix authorize``: Authorize, 1.6 and 2.0.1 chargers alternating;
* ``--mix session``: full sessions (Start, 10 meter values, Stop), every
  charger concurrently, so that the writes are grouped as under load.

``--profile`` prints the functions with the most own time (cProfile, event
loop thread only). Pin it to one core to count like the bench does
(``taskset -c 1 python -m bench.inprocess``).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import pstats
import shutil
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from websockets.protocol import State

from bench import dataset
from gateway.app import HANDLERS, create_app
from gateway.config import DatabaseSettings, HttpSettings, LogSettings, OcppSettings, Settings
from gateway.logs import configure_logging
from gateway.transport.connection import ChargerConnection
from simulators.load.messages import DIALECTS, transaction_of


class _Protocol:
    state = State.OPEN


class _Socket:
    """What ChargerConnection needs of its WebSocket: the station, its state, and a way
    to send (written directly when open and not paused, as the real one is)."""

    protocol = _Protocol()
    paused = False

    def __init__(self, station: Any) -> None:
        self.station = station
        self.last = ""

    def send_now(self, text: str) -> None:
        self.last = text

    async def send(self, text: str) -> None:
        self.last = text


async def _call(connection: Any, message_id: str, action: str, payload: dict[str, Any]) -> Any:
    frame = json.dumps([2, message_id, action, payload]).encode()
    await connection._on_message(frame, True)
    answer = json.loads(connection.ws.last)
    if answer[0] != 3:
        raise RuntimeError(f"{action} got {answer}")
    return answer[2]


async def _authorize(connections: list[Any], tokens: list[str], calls: int) -> int:
    for i in range(calls):
        connection, version = connections[i % len(connections)]
        action, payload = DIALECTS[version].authorize(tokens[i % len(tokens)])
        await _call(connection, f"a{i}", action, payload)
        if i % 100 == 0:
            await asyncio.sleep(0)  # let timers (log flushes) run, as a server would
    return calls


async def _sessions(connection: Any, version: str, tokens: list[str], sessions: int) -> int:
    dialect, calls = DIALECTS[version], 0
    for s in range(sessions):
        calls += 1
        action, payload = dialect.start(tokens[(s * 7919 + id(connection)) % len(tokens)], 1000)
        tx = transaction_of(version, payload, await _call(connection, f"s{calls}", action, payload))
        for seq in range(1, 11):
            calls += 1
            action, payload = dialect.update(tx, seq, 1000 + 100 * seq)
            await _call(connection, f"s{calls}", action, payload)
        calls += 1
        action, payload = dialect.stop(tx, 11, 3000)
        await _call(connection, f"s{calls}", action, payload)
    return calls


def _prepare(args: argparse.Namespace) -> Path:
    """A fresh copy of the benchmark database (built first if missing)."""
    results: Path = args.results
    results.mkdir(parents=True, exist_ok=True)
    template = results / "dataset.sqlite3"
    if not template.exists():
        dataset.build(template, stations=args.stations, members=args.members)
    database = results / "inprocess.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(template, database)
    return database


async def run(args: argparse.Namespace, database: Path, log: TextIO) -> dict[str, Any]:
    configure_logging("json", "info", stream=log)
    settings = Settings(
        ocpp=OcppSettings(host="127.0.0.1", port=0),
        http=HttpSettings(host="127.0.0.1", port=0),
        database=DatabaseSettings(path=database),
        log=LogSettings(format="json"),
    )
    gateway = create_app(settings)
    try:
        await gateway.start()
        connections = []
        for i in range(args.chargers):
            version = ("1.6", "2.0.1")[i % 2]
            station = await gateway.stations.get(dataset.station_id(i))
            connection = ChargerConnection(
                _Socket(station),
                version,
                gateway.services,
                HANDLERS[version],
                gateway.replay,
                30.0,
            )
            connection.session.booted = True
            connections.append((connection, version))
        session = args.mix == "session"
        tokens = (dataset.session_tokens if session else dataset.authorize_tokens)(args.members)
        profile = cProfile.Profile() if args.profile else None
        wall, cpu = time.perf_counter(), time.process_time()
        if profile is not None:
            profile.enable()
        if session:
            counts = await asyncio.gather(
                *(_sessions(c, v, tokens, args.sessions) for c, v in connections)
            )
            calls = sum(counts)
        else:
            calls = await _authorize(connections, tokens, args.calls)
        if profile is not None:
            profile.disable()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    finally:
        await gateway.stop()
    out = {
        "mix": args.mix,
        "chargers": args.chargers,
        "calls": calls,
        "cpu_us_per_call": round(cpu / calls * 1e6, 1),
        "wall_us_per_call": round(wall / calls * 1e6, 1),
        "calls_per_second": round(calls / wall),
    }
    if session:
        out["sessions_per_second"] = round(args.chargers * args.sessions / wall, 1)
    if profile is not None:
        text = io.StringIO()
        pstats.Stats(profile, stream=text).sort_stats("tottime").print_stats(args.limit)
        print(text.getvalue(), file=sys.stderr)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mix", choices=["authorize", "session"], default="authorize")
    parser.add_argument("--chargers", type=int, help="default: 2 (authorize), 300 (session)")
    parser.add_argument("--calls", type=int, default=40_000, help="Authorize calls")
    parser.add_argument("--sessions", type=int, default=6, help="sessions per charger")
    parser.add_argument("--stations", type=int, default=5000)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--results", type=Path, default=Path("bench-results"))
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--limit", type=int, default=30)
    args = parser.parse_args(argv)
    if args.chargers is None:
        args.chargers = 300 if args.mix == "session" else 2
    database = _prepare(args)
    with (args.results / "inprocess.log").open("w") as log:
        print(json.dumps(asyncio.run(run(args, database, log))))


if __name__ == "__main__":
    main()
