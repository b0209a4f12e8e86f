"""Handshake flood benchmark: what a burst of wrong passwords from one address costs others.

Runs ``python -m gateway run`` as deployed (default settings, scrypt at its
default cost) on a fresh database, then measures, from addresses other than
the attacker's:

- a connected charger's Heartbeat round trip (127.0.0.3, one every 20 ms);
- the WebSocket handshake of chargers connecting for the first time since
  the start (127.0.0.2: each costs one real password check);

first with nothing else going on, then while 200 handshakes with wrong
passwords arrive at once from 127.0.0.1 (``auth_failure_limit`` 20: at most
20 of them are checked, the rest get 429). Prints p50 / p99 / max in ms,
the attackers' answers and the gateway's password-check counter.

Usage: python bench/handshake_flood.py [--attempts 200] [--chargers 20]
A benchmark prints figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from bench.targets import Target, start_gateway
from gateway.logs import configure_logging
from gateway.security.passwords import hash_password
from gateway.store.database import Database
from gateway.store.stations import StationStore
from simulators import ChargePoint16


def password(cpid: str) -> str:
    return f"password-of-{cpid}-0123"


async def prepare(database: Path, chargers: int) -> None:
    configure_logging("json", "warning")  # the migrations' lines stay out of the results
    db = Database(database)
    await db.open()
    stations, now = StationStore(db), datetime.now(UTC)
    names = ["VICTIM", "CONNECTED"] + [f"NEW-{i}" for i in range(2 * chargers)]
    for cpid in names:
        await stations.add(cpid, hash_password(password(cpid)), now)
    await db.close()


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p99_ms": round(p99 * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
    }


async def heartbeats(url: str, stop: asyncio.Event, out: list[float]) -> None:
    """A charger from 127.0.0.3 sends a Heartbeat every 20 ms until ``stop``."""
    options = {"local_addr": ("127.0.0.3", 0)}
    cp = ChargePoint16(
        "CONNECTED", url=url, password=password("CONNECTED"), connect_options=options
    )
    async with cp:
        await cp.boot()
        while not stop.is_set():
            started = time.perf_counter()
            await cp.heartbeat()
            out.append(time.perf_counter() - started)
            await asyncio.sleep(0.02)


async def newcomers(url: str, names: list[str], out: list[float]) -> None:
    """Chargers from 127.0.0.2 connecting for the first time, one after the other."""
    for cpid in names:
        cp = ChargePoint16(
            cpid,
            url=url,
            password=password(cpid),
            connect_options={"local_addr": ("127.0.0.2", 0)},
        )
        started = time.perf_counter()
        await cp.connect()
        out.append(time.perf_counter() - started)
        await cp.close()
        await asyncio.sleep(0.02)


async def attempt(url: str, number: int) -> int:
    cp = ChargePoint16("VICTIM", url=url, password=f"wrong-guess-number-{number:04d}")
    return await cp.handshake_status()


async def phase(
    target: Target, names: list[str], attempts: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    stop, beats, joins = asyncio.Event(), [], []
    beating = asyncio.create_task(heartbeats(target.url, stop, beats))
    await asyncio.sleep(0.5)
    flood: dict[str, Any] = {}
    joining = asyncio.create_task(newcomers(target.url, names, joins))
    if attempts:
        started = time.perf_counter()
        answers = await asyncio.gather(*(attempt(target.url, i) for i in range(attempts)))
        flood = {
            "answers": dict(Counter(answers)),
            "all_answered_s": round(time.perf_counter() - started, 3),
        }
    await joining
    stop.set()
    await beating
    return {"heartbeat": summary(beats), "first_handshake": summary(joins)}, flood


async def password_checks(http_port: int | None) -> dict[str, float]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{http_port}") as http:
        text = (await http.get("/metrics")).text
    checks: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("ocpp_gateway_password_checks_total{"):
            outcome = line.split('"')[1]
            checks[outcome] = float(line.rsplit(" ", 1)[1])
    return checks


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        database = Path(folder) / "flood.sqlite3"
        await prepare(database, args.chargers)
        target = await start_gateway(database, Path(folder) / "gateway.log", None)
        try:
            calm, _ = await phase(target, [f"NEW-{i}" for i in range(args.chargers)], 0)
            names = [f"NEW-{args.chargers + i}" for i in range(args.chargers)]
            flooded, flood = await phase(target, names, args.attempts)
            checks = await password_checks(target.http_port)
        finally:
            await target.stop()
    return {
        "attempts": args.attempts,
        "calm": calm,
        "during_flood": flooded,
        "flood": flood,
        "password_checks": checks,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--attempts", type=int, default=200)
    parser.add_argument("--chargers", type=int, default=20)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    results = asyncio.run(run(args))
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
