"""The import-isolation scenario: chargers doing full durable sessions and Heartbeats while
a 100,000-row member import runs through the admin API.

1. two organisations are made with the command line (``orgs create``), each with
   its Owner's API token; a CSV of ``import_rows`` members is written for each
   (a badge and a group per member, the Owner's own row);
2. *alone*: the first file is imported (``POST /api/v1/members/import``) with no
   charger connected: its duration;
3. ``import_chargers`` chargers (1.6 and 2.0.1) connect and run, in open loop at
   ``import_rate`` units a second, the mix ``session=1,heartbeat=1`` (a session is
   Start, ``session_meter_values`` meter values, Stop, every one a durable write);
   *before*: their latencies for a few seconds; *during*: the second file is
   imported, and their latencies from the request to the answer are kept apart;
4. reported: per action p50/p99/max before and during the import, the import's
   duration alone and during, their ratio, and the targets of issue 12 (Heartbeat
   p99 < 5 ms and max < 50 ms; durable MeterValues p99 < 50 ms and max < 250 ms;
   the import at most 1.5 times slower beside the chargers).

The figures are printed and written to ``latest.json`` as measured; nothing here is
a pass/fail test.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from bench import dataset, procstat
from bench.targets import Target
from simulators.load import Mix
from simulators.load.stats import Recorder

BEFORE_SECONDS = 4.0
ACTIONS = ("Heartbeat", "MeterValues", "TransactionEvent", "StartTransaction", "StopTransaction")
TARGETS = {
    "Heartbeat": (5.0, 50.0),
    "MeterValues": (50.0, 250.0),
    "TransactionEvent": (50.0, 250.0),
}
"""Per action: (p99, max) in ms; 2.0.1's TransactionEvent carries its meter values."""
SLOWDOWN_TARGET = 1.5


def organisation(database: Path, name: str, owner: str) -> str:
    """Make an organisation with the command line; its Owner's API token."""
    out = subprocess.run(
        [sys.executable, "-m", "gateway", "--database", str(database), "orgs", "create", name,
         "--owner-email", owner, "--owner-first-name", "Bench", "--owner-last-name", "Owner"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    found = re.search(r"API token \(shown once\): (\S+)", out)
    if found is None:
        raise RuntimeError(f"no API token in the output of orgs create: {out!r}")
    return found.group(1)


def member_file(tag: str, owner: str, rows: int) -> bytes:
    lines = [
        "identifier,first_name,last_name,email,phone,role,status,groups,tokens,valid_until",
        f",Bench,Owner,{owner},,Owner,,,,",
    ]
    lines += [
        f"{tag}-{i:06d},First{i},Last{i},m{i}@{tag}.bench.test,+33 1 00 00 {i % 100:02d},,,"
        f"Group {i % 20},IMP-{tag}-{i:06d},"
        for i in range(rows)
    ]
    return ("\n".join(lines) + "\n").encode()


async def post(target: Target, token: str, body: bytes) -> dict[str, Any]:
    """One import; its wall seconds and the gateway's CPU seconds meanwhile."""
    url = f"http://127.0.0.1:{target.http_port}/api/v1/members/import"
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "text/csv"}
    cpu0, t0 = procstat.cpu_seconds(target.pid), time.monotonic()
    async with httpx.AsyncClient(timeout=900) as client:
        answer = await client.post(url, content=body, headers=headers)
    seconds = time.monotonic() - t0
    counts = answer.json().get("counts") if answer.status_code == 200 else None
    return {
        "status": answer.status_code,
        "seconds": round(seconds, 3),
        "gateway_cpu_seconds": round(procstat.cpu_seconds(target.pid) - cpu0, 3),
        "counts": counts,
        "error": None if answer.status_code == 200 else answer.text[:300],
    }


async def scenario(target: Target, database: Path, plan: Any, chargers: Any) -> dict[str, Any]:
    """Run the scenario against a started gateway on ``database``; ``chargers`` makes the
    fleet (:func:`bench.scenarios.fleet`)."""
    rows = plan.import_rows
    tokens = {}
    for tag in ("alone", "during"):
        tokens[tag] = organisation(database, f"Bench Import {tag}", f"owner@{tag}.bench.test")
    files = {tag: member_file(tag, f"owner@{tag}.bench.test", rows) for tag in tokens}
    await asyncio.sleep(3.0)  # the gateway's cache takes the new organisations in
    print(f"[gateway] import of {rows:,} rows, alone", file=sys.stderr, flush=True)
    alone = await post(target, tokens["alone"], files["alone"])
    await asyncio.sleep(3.0)
    mix = Mix.parse("session=1,heartbeat=1", plan.session_meter_values)
    fleet = chargers(target, plan.import_chargers, dataset.session_tokens(plan.members))
    async with fleet as group:
        connected = await group.connect(timeout=300)
        # Long enough for the import beside the chargers to end well before the run does.
        duration = BEFORE_SECONDS + 3 * alone["seconds"] + 10
        run = asyncio.create_task(group.run(mix, duration=duration, rate=plan.import_rate))
        await asyncio.sleep(BEFORE_SECONDS)
        before, group.recorder = group.recorder, Recorder()
        started = time.monotonic()
        print(
            f"[gateway] import of {rows:,} rows beside {connected['connected']} chargers",
            file=sys.stderr,
            flush=True,
        )
        during_import = await post(target, tokens["during"], files["during"])
        during, group.recorder = group.recorder, Recorder()
        window = time.monotonic() - started
        whole = await run
    slowdown = during_import["seconds"] / alone["seconds"] if alone["seconds"] else None
    return {
        "rows": rows,
        "chargers": connected["connected"],
        "rate_target": plan.import_rate,
        "import_alone": alone,
        "import_during": during_import,
        "slowdown": round(slowdown, 3) if slowdown is not None else None,
        "before": before.summary(BEFORE_SECONDS),
        "during": during.summary(window),
        "run_ended_after_import": whole["seconds"] >= BEFORE_SECONDS + window,
    }


def _ms(data: dict[str, Any], action: str, key: str) -> float | None:
    value = data.get("actions", {}).get(action, {}).get("latency_ms", {}).get(key)
    return None if value is None else float(value)


def render(found: dict[str, Any]) -> list[str]:
    """The scenario's lines for the bench's printed report."""
    alone, during = found["import_alone"], found["import_during"]
    lines = [
        "",
        f"import isolation: {found['rows']:,}-row import through the API, "
        f"{found['chargers']} chargers at {found['rate_target']:g} units/s "
        "(session=1,heartbeat=1)",
        f"  import alone {alone['seconds']:.2f} s (HTTP {alone['status']}, gateway CPU "
        f"{alone['gateway_cpu_seconds']:.2f} s); beside the chargers {during['seconds']:.2f} s "
        f"(HTTP {during['status']}, CPU {during['gateway_cpu_seconds']:.2f} s); "
        f"ratio {found['slowdown']} (target <= {SLOWDOWN_TARGET})",
        f"  {'action':<18} {'window':<7} {'calls':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}"
        f"  {'target p99/max':>15}",
    ]
    for action in ACTIONS:
        for window in ("before", "during"):
            data = found[window]
            stats = data.get("actions", {}).get(action)
            if stats is None:
                continue
            p50, p99, top = (_ms(data, action, k) for k in ("p50", "p99", "max"))
            goal = TARGETS.get(action)
            verdict = ""
            if goal is not None and window == "during" and p99 is not None and top is not None:
                verdict = f"{goal[0]:g}/{goal[1]:g} " + (
                    "met" if p99 < goal[0] and top < goal[1] else "MISSED"
                )
            lines.append(
                f"  {action:<18} {window:<7} {stats['results']:>7} {_f(p50):>8} {_f(p99):>8} "
                f"{_f(top):>8}  {verdict:>15}"
            )
    return lines


def _f(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"
