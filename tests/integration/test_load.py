"""``python -m simulators load``: a small bounded run against a real gateway process.

No timing is asserted (timings belong in ``make bench``): the run must end by
itself, every charger must connect and boot, every CALL must be counted once
with a result, and the gateway must have answered exactly what was counted.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx

from gateway.security.passwords import hash_password
from gateway.store.database import Database
from gateway.store.members import MemberStore
from gateway.store.stations import StationStore
from tests.conftest import spawn_gateway

CHARGERS = 20
PASSWORD = "load-test-password-{n}"
TOKENS = ("LOAD-TAG-1", "LOAD-TAG-2", "LOAD-TAG-3")


async def seed(database: Path) -> None:
    db = Database(database)
    await db.open()
    try:
        now = datetime.now(UTC)
        members, stations = MemberStore(db), StationStore(db)
        org = await members.ensure_organisation("Load Org", now)
        for n in range(CHARGERS):
            secret = hash_password(PASSWORD.replace("{n}", str(n)), n=2**10)
            await stations.add(f"LOAD-CP-{n:05d}", secret, now, organisation_id=org)
        for i, token in enumerate(TOKENS):
            member = await members.add_member(org, now, email=f"driver{i}@example.org")
            await members.add_token(token, member, now)
    finally:
        await db.close()


def answered_by_the_gateway(metrics: str) -> int:
    pattern = re.compile(r"^ocpp_gateway_messages_total\{[^}]*\} ([0-9.e+]+)$", re.MULTILINE)
    return int(sum(float(value) for value in pattern.findall(metrics)))


async def test_a_bounded_load_run_counts_every_message_without_errors(tmp_path: Path) -> None:
    database = tmp_path / "gw.sqlite3"
    await seed(database)
    gateway = await spawn_gateway(database)
    summary_file = tmp_path / "summary.json"
    try:
        args = [
            *("--url", gateway.url, "--chargers", str(CHARGERS), "--password", PASSWORD),
            *("--ocpp", "both", "--duration", "3", "--ramp-up", "0.5"),
            *("--mix", "authorize=4,heartbeat=1,status=1,session=1"),
            *("--session-meter-values", "2", "--storm", "--quiet", "--json", str(summary_file)),
        ]
        for token in TOKENS:
            args += ["--token", token]
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "simulators",
            "load",
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 90)
        async with httpx.AsyncClient() as http:
            metrics = (await http.get(f"http://127.0.0.1:{gateway.http_port}/metrics")).text
    finally:
        assert await gateway.terminate() == 0
    assert proc.returncode == 0, out.decode() + err.decode()
    assert "run:" in out.decode() and err.decode() == ""
    summary = json.loads(summary_file.read_text())

    connect, run, storm = summary["connect"], summary["run"], summary["storm"]
    assert connect["connected"] == CHARGERS and connect["errors"] == 0
    assert storm["rebooted"] == CHARGERS and storm["errors"] == 0
    assert run["errors"] == 0 and run["sent"] == run["answered"] > CHARGERS
    for phase in (connect, run, storm):
        for name, action in phase["actions"].items():
            outcomes = action["results"] + action["callerrors"] + action["timeouts"]
            assert outcomes + action["closed"] == action["sent"], name
    assert set(run["units"]) <= {"authorize", "heartbeat", "status", "session"}
    assert run["sessions"].get("failed", 0) == 0
    assert run["actions"]["Authorize"]["statuses"] == {
        "Accepted": run["actions"]["Authorize"]["results"]
    }
    calls = sum(
        action["sent"]
        for phase in (connect, run, storm)
        for name, action in phase["actions"].items()
        if name != "Connect"
    )
    assert answered_by_the_gateway(metrics) == calls
    assert summary["late_replies"] == 0 and summary["unexpected_frames"] == 0
