"""A real gateway process: kill -9 right after an answer loses nothing; SIGTERM closes with 1001."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx

from simulators import ChargePoint16, ChargePoint201
from tests.conftest import run_cli, spawn_gateway


async def register(database: Path, cpid: str, password: str) -> None:
    code, _, err = await run_cli(database, "orgs", "create", "Acme", "--owner-email", "o@a.test")
    assert code in (0, 1), err  # 1: made by an earlier call
    code, _, err = await run_cli(database, "stations", "add", cpid, "--password", password)
    assert code == 0, err
    code, _, err = await run_cli(database, "members", "add", "--email", "ada@example.org")
    assert code in (0, 1), err
    code, _, err = await run_cli(
        database, "tokens", "add", f"TAG-{cpid}", "--member", "ada@example.org"
    )
    assert code == 0, err


async def test_kill_9_after_an_acknowledged_start_loses_nothing(tmp_path: Path) -> None:
    database = tmp_path / "gw.sqlite3"
    await register(database, "CP16", "crash-test-password")
    await register(database, "CP201", "crash-test-password2")
    gateway = await spawn_gateway(database)
    cp = ChargePoint16("CP16", url=gateway.url, password="crash-test-password")
    cs = ChargePoint201("CP201", url=gateway.url, password="crash-test-password2")
    await cp.connect()
    await cs.connect()
    await cp.boot()
    await cs.boot()
    start = await cp.start_transaction(1, "TAG-CP16", 1234, timestamp="2026-11-23T08:00:00Z")
    assert start["idTagInfo"]["status"] == "Accepted"
    await cs.start_transaction("TAG-CP201", transaction_id="survivor")
    await gateway.kill()  # no chance to flush anything after the answers
    await cp.close()
    await cs.close()

    with sqlite3.connect(database) as db:
        row = db.execute(
            "SELECT charge_point_id, meter_start_wh, state FROM transactions WHERE id = ?",
            (start["transactionId"],),
        ).fetchone()
        event = db.execute(
            "SELECT count(*) FROM transaction_events WHERE transaction_uid = 'survivor'"
        ).fetchone()
    assert row == ("CP16", 1234, "Open")
    assert event == (1,)

    restarted = await spawn_gateway(database)
    try:
        async with ChargePoint16("CP16", url=restarted.url, password="crash-test-password") as cp:
            retry = await cp.start_transaction(
                1, "TAG-CP16", 1234, timestamp="2026-11-23T08:00:00Z"
            )
            assert retry["transactionId"] == start["transactionId"]
            await cp.stop_transaction(
                start["transactionId"], 2234, timestamp="2026-11-23T09:00:00Z"
            )
        async with httpx.AsyncClient() as http:
            metrics = (await http.get(f"http://127.0.0.1:{restarted.http_port}/metrics")).text
        assert "ocpp_gateway_open_transactions 1.0" in metrics, "the 2.0.1 one is still open"
    finally:
        assert await restarted.terminate() == 0


async def test_sigterm_closes_chargers_with_1001_and_exits_cleanly(tmp_path: Path) -> None:
    database = tmp_path / "gw.sqlite3"
    await register(database, "CP16", "shutdown-password")
    gateway = await spawn_gateway(database)
    cp = ChargePoint16("CP16", url=gateway.url, password="shutdown-password")
    await cp.connect()
    await cp.boot()
    assert await gateway.terminate() == 0
    await cp.wait_closed(10)
    assert cp.close_code == 1001
    assert any(entry.get("event") == "gateway stopped" for entry in gateway.logs)
