"""``python -m simulators scenario`` and ``python -m simulators.demo`` against a gateway process.

The scenario runner is what an operator's CI runs: exit 0 when every answer
matches, 1 with the differences when one does not, 2 for a broken file.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from gateway import demo as gateway_demo
from gateway.security.passwords import hash_password
from gateway.store.database import Database
from gateway.store.members import MemberStore
from gateway.store.stations import StationStore
from tests.conftest import GatewayProcess, spawn_gateway

STATIONS = {"CI-CP16": "password-of-ci-cp16", "CI-CP201": "password-of-ci-cp201"}


async def seed_network(database: Path) -> None:
    """Two stations and three tokens in one organisation, as an operator would have them."""
    db = Database(database)
    await db.open()
    try:
        now = datetime.now(UTC)
        members, stations = MemberStore(db), StationStore(db)
        org = await members.ensure_organisation("CI Org", now, group_token="CI-GROUP")
        for cpid, password in STATIONS.items():
            await stations.add(cpid, hash_password(password, n=2**10), now, organisation_id=org)
        member = await members.add_member(org, now, first_name="Ada", email="ada@example.org")
        await members.add_token("TAG-OK", member, now)
        await members.add_token("TAG-BLOCKED", member, now, status="Blocked")
    finally:
        await db.close()


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[GatewayProcess]:
    database = tmp_path / "gw.sqlite3"
    await seed_network(database)
    process = await spawn_gateway(database)
    yield process
    assert await process.terminate() == 0


async def simulators(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 90)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def write(path: Path, scenario: dict[str, Any]) -> Path:
    path.write_text(json.dumps(scenario, indent=2), encoding="utf-8")
    return path


CI_SCENARIO: dict[str, Any] = {
    "name": "CI network",
    "stations": {
        "CI-CP16": {"version": "1.6", "password": STATIONS["CI-CP16"]},
        "CI-CP201": {"version": "2.0.1", "password_env": "CI_CP201_PASSWORD"},
    },
    "steps": [
        {
            "station": "CI-CP16",
            "action": "Authorize",
            "token": "TAG-OK",
            "expect": {
                "status": "Accepted",
                "fields": {
                    "idTagInfo": {"parentIdTag": "CI-GROUP", "expiryDate": {"$present": True}}
                },
            },
        },
        {
            "station": "CI-CP16",
            "action": "Authorize",
            "token": "tag-blocked",
            "expect": {"status": "Blocked"},
        },
        {
            "station": "CI-CP16",
            "action": "Authorize",
            "token": "NOBODY",
            "expect": {"status": "Invalid"},
        },
        {
            "station": "CI-CP201",
            "action": "Authorize",
            "token": "NOBODY",
            "expect": {"status": "Unknown"},
        },
        {
            "station": "CI-CP201",
            "action": "Authorize",
            "token": "TAG-OK",
            "expect": {
                "fields": {
                    "idTokenInfo": {"status": "Accepted", "groupIdToken": {"idToken": "CI-GROUP"}}
                }
            },
        },
        {
            "station": "CI-CP16",
            "action": "StartTransaction",
            "token": "TAG-OK",
            "expect": {"status": "Accepted", "fields": {"transactionId": {"$present": True}}},
        },
        {"station": "CI-CP16", "action": "MeterValues", "meter_wh": 1500},
        {"station": "CI-CP16", "action": "StopTransaction", "meter_wh": 3000, "reason": "Local"},
        {
            "station": "CI-CP201",
            "action": "StartTransaction",
            "token": "TAG-OK",
            "expect": {"status": "Accepted"},
        },
        {"station": "CI-CP201", "action": "MeterValues"},
        {"station": "CI-CP201", "action": "StopTransaction"},
        {
            "station": "CI-CP16",
            "action": "DataTransfer",
            "payload": {"vendorId": "com.example"},
            "expect": {"status": "UnknownVendorId"},
        },
        {
            "station": "CI-CP201",
            "action": "Heartbeat",
            "payload": {"unexpected": 1},
            "expect": {"callerror": "FormatViolation"},
        },
        {
            "station": "CI-CP16",
            "action": "Connect",
            "password": "not-the-password",
            "expect": {"http": 401},
        },
        {
            "station": "CI-UNKNOWN",
            "version": "1.6",
            "password": "whatever-password",
            "expect": {"http": 404},
        },
        {
            "name": "reconnects with its own password",
            "station": "CI-CP16",
            "action": "Heartbeat",
            "expect": {"fields": {"currentTime": {"$regex": r"\d{4}-\d\d-\d\dT"}}},
        },
    ],
}


async def test_a_scenario_that_matches_exits_0(
    gateway: GatewayProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI_CP201_PASSWORD", STATIONS["CI-CP201"])
    scenario = write(tmp_path / "ci.json", CI_SCENARIO)
    report = tmp_path / "report.json"
    code, out, err = await simulators(
        "simulators", "scenario", str(scenario), "--url", gateway.url, "--report", str(report)
    )
    assert code == 0, out + err
    assert f"{len(CI_SCENARIO['steps'])} steps: {len(CI_SCENARIO['steps'])} passed, 0 failed" in out
    results = json.loads(report.read_text())
    assert results["passed"] is True
    assert [step["ok"] for step in results["steps"]] == [True] * len(CI_SCENARIO["steps"])


async def test_a_mismatch_exits_1_and_says_what_differed(
    gateway: GatewayProcess, tmp_path: Path
) -> None:
    scenario = write(
        tmp_path / "wrong.json",
        {
            "url": gateway.url,
            "stations": {"CI-CP16": {"version": "1.6", "password": STATIONS["CI-CP16"]}},
            "steps": [
                {"station": "CI-CP16", "action": "Authorize", "token": "TAG-OK"},
                {
                    "name": "a blocked badge is let in",
                    "station": "CI-CP16",
                    "action": "Authorize",
                    "token": "TAG-BLOCKED",
                    "expect": {"status": "Accepted"},
                },
                {"station": "CI-CP16", "action": "Connect", "expect": {"http": 401}},
            ],
        },
    )
    code, out, _ = await simulators("simulators", "scenario", str(scenario))
    assert code == 1
    assert "FAIL   2  a blocked badge is let in: expected status Accepted, got Blocked" in out
    assert "FAIL   3" in out and "expected HTTP 401, got the upgrade" in out
    assert "3 steps: 1 passed, 2 failed" in out


async def test_an_invalid_scenario_exits_2_naming_the_step(tmp_path: Path) -> None:
    scenario = write(
        tmp_path / "typo.json",
        {
            "stations": {"CP": {"version": "1.6"}},
            "steps": [{"station": "CP", "action": "Authorize", "tokn": "X"}],
        },
    )
    code, _, err = await simulators(
        "simulators", "scenario", str(scenario), "--url", "ws://127.0.0.1:9"
    )
    assert code == 2
    assert "step 1: unknown field(s) for Authorize: tokn" in err


async def test_the_demo_matches_the_gateways_demo_data(tmp_path: Path) -> None:
    database = tmp_path / "demo.sqlite3"
    db = Database(database)
    await db.open()
    try:
        await gateway_demo.seed(db, datetime.now(UTC))
    finally:
        await db.close()
    process = await spawn_gateway(database)
    try:
        code, out, err = await simulators("simulators.demo", "--url", process.url)
    finally:
        assert await process.terminate() == 0
    assert code == 0, out + err
    steps = 2 * len(gateway_demo.TOKENS) + 8
    assert f"{steps}/{steps} answers match the demo data" in out
