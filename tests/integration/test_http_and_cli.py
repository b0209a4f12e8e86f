"""The operators' side: health, readiness, metrics, and the CLI reaching a running gateway."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import httpx

from simulators import ChargePoint16
from tests.conftest import PASSWORDS, Harness, run_cli, spawn_gateway


async def test_health_readiness_and_metrics(gw: Harness) -> None:
    async with ChargePoint16("CP16", url=gw.url, password=PASSWORDS["CP16"]) as cp:
        await cp.boot()
        await cp.authorize("TAG-OK")
        await cp.authorize("NOBODY")
        await cp.start_transaction(1, "TAG-OK", 0, timestamp="2026-11-23T08:00:00Z")
        async with httpx.AsyncClient(base_url=gw.http) as http:
            assert (await http.get("/healthz")).json() == {"status": "ok"}
            ready = await http.get("/readyz")
            assert ready.status_code == 200
            assert ready.json()["checks"] == {"database": True, "cache": True, "listening": True}
            metrics = (await http.get("/metrics")).text
    for line in (
        'ocpp_gateway_connected_chargers{ocpp_version="1.6"} 1.0',
        'ocpp_gateway_messages_total{action="Authorize",ocpp_version="1.6",outcome="result"} 2.0',
        'ocpp_gateway_authorization_decisions_total{reason="accepted",status="Accepted"} 2.0',
        'ocpp_gateway_authorization_decisions_total{reason="token.known",status="Unknown"} 1.0',
        "ocpp_gateway_open_transactions 1.0",
    ):
        assert line in metrics, line
    for family in (
        "ocpp_gateway_handler_seconds_bucket",
        "ocpp_gateway_db_commit_seconds_bucket",
        "ocpp_gateway_decision_seconds_bucket",
    ):
        assert family in metrics


async def test_readyz_is_503_when_the_database_is_gone(gw: Harness) -> None:
    await gw.gateway.db.reader.close()
    async with httpx.AsyncClient(base_url=gw.http) as http:
        ready = await http.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"] is False


async def test_cli_registration_reaches_a_running_gateway(tmp_path: Path) -> None:
    database = tmp_path / "gw.sqlite3"
    assert (await run_cli(database, "orgs", "create", "Acme", "--owner-email", "o@acme.test"))[
        0
    ] == 0
    code, out, _ = await run_cli(database, "stations", "add", "CP-NEW")
    assert code == 0
    password = out.split("password (shown once): ")[1].strip()
    gateway = await spawn_gateway(database)
    try:
        async with ChargePoint16("CP-NEW", url=gateway.url, password=password) as cp:
            await cp.boot()
            assert (await cp.authorize("04A2B3C4"))["idTagInfo"]["status"] == "Invalid"
            assert (await run_cli(database, "members", "add", "--email", "bo@example.org"))[0] == 0
            assert (
                await run_cli(database, "tokens", "add", "04a2b3c4", "--member", "bo@example.org")
            )[0] == 0
            status = ""
            for _ in range(30):  # the gateway polls for changes every second
                status = (await cp.authorize("04A2B3C4"))["idTagInfo"]["status"]
                if status == "Accepted":
                    break
                await asyncio.sleep(0.2)
            assert status == "Accepted"
            assert (await run_cli(database, "members", "deactivate", "bo@example.org"))[0] == 0
            for _ in range(30):
                status = (await cp.authorize("04A2B3C4"))["idTagInfo"]["status"]
                if status == "Blocked":
                    break
                await asyncio.sleep(0.2)
            assert status == "Blocked"
    finally:
        assert await gateway.terminate() == 0


async def test_cli_reports_errors_clearly(tmp_path: Path) -> None:
    database = tmp_path / "gw.sqlite3"
    assert (await run_cli(database, "orgs", "create", "Acme", "--owner-email", "o@acme.test"))[
        0
    ] == 0
    assert (await run_cli(database, "stations", "add", "CP1", "--password", "short"))[0] != 0
    assert (await run_cli(database, "stations", "add", "CP1", "--password", "long-enough-pass"))[
        0
    ] == 0
    code, _, err = await run_cli(
        database, "stations", "add", "CP1", "--password", "long-enough-pass"
    )
    assert code == 1 and "already exists" in err
    code, _, err = await run_cli(database, "tokens", "add", "T1", "--member", "ghost@example.org")
    assert code == 1 and "no member" in err


async def test_a_bad_config_key_is_named(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text("[ocpp]\nport = 99999\n")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway",
        "--config",
        str(config),
        "run",
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await proc.communicate()
    assert proc.returncode == 2
    assert b"ocpp.port" in err and b"OCPP_GATEWAY_OCPP__PORT" in err
