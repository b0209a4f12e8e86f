"""The load generator against a scripted central system (``FakeCsms``): behaviour and counts."""

from __future__ import annotations

import asyncio
import base64
from collections import Counter
from http import HTTPStatus
from typing import Any

import pytest

from simulators.frames import Payload
from simulators.load import Fleet, Mix, numbered_chargers
from simulators.load.fleet import ChargerSpec
from simulators.load.progress import progress_line
from simulators.load.report import format_summary
from simulators.testing import FakeCsms
from tests.unit.test_simulator_payloads import assert_valid

NOW = "2026-01-01T00:00:00.000Z"


def accept_all(action: str, payload: Payload) -> Payload:
    """What a permissive central system answers, for both versions."""
    if action == "BootNotification":
        return {"status": "Accepted", "currentTime": NOW, "interval": 300}
    if action == "Heartbeat":
        return {"currentTime": NOW}
    if action in ("Authorize", "StopTransaction"):
        key = "idTokenInfo" if "idToken" in payload else "idTagInfo"
        return {key: {"status": "Accepted"}}
    if action == "StartTransaction":
        return {"transactionId": 42, "idTagInfo": {"status": "Accepted"}}
    if action == "TransactionEvent" and "idToken" in payload:
        return {"idTokenInfo": {"status": "Accepted"}}
    return {}


def assert_every_call_has_one_outcome(phase: dict[str, Any]) -> None:
    for name, action in phase["actions"].items():
        outcomes = action["results"] + action["callerrors"] + action["timeouts"] + action["closed"]
        assert outcomes == action["sent"], name


async def test_chargers_boot_then_run_the_mix_with_valid_payloads() -> None:
    chargers = numbered_chargers(4, password="secret-{id}", versions=("1.6", "2.0.1"))
    mix = Mix.parse("authorize=3,heartbeat=1,status=1,meter=1,session=1", session_meter_values=2)
    async with FakeCsms(auto_reply=accept_all) as csms:
        async with Fleet(csms.url, chargers, ["T1", "T2"]) as fleet:
            connected = await fleet.connect()
            connections = [await csms.accept() for _ in chargers]
            run = await fleet.run(mix, duration=0.5)
        assert connected["connected"] == 4 and connected["errors"] == 0
        assert run["errors"] == 0 and run["sent"] == run["answered"] > 20
        assert_every_call_has_one_outcome(run)
        assert sum(run["units"].values()) > 0
        assert run["sessions"].get("failed", 0) == 0
        for conn in connections:
            version = "1.6" if conn.subprotocol == "ocpp1.6" else "2.0.1"
            assert conn.calls[0][0] == "BootNotification", "BootNotification comes first"
            for action, payload in conn.calls:
                name = action if version == "1.6" else f"{action}Request"
                assert_valid(version, name, payload)
    identities = sorted(request.path for request in csms.requests)
    assert identities == [f"/LOAD-CP-0000{n}" for n in range(4)]
    credentials = base64.b64decode(csms.requests[0].headers["Authorization"].split()[1])
    user, _, password = credentials.decode().partition(":")
    assert password == f"secret-{user}"


async def test_a_session_stops_at_once_when_its_start_is_refused() -> None:
    def refuse_starts(action: str, payload: Payload) -> Payload:
        if action == "StartTransaction":
            return {"transactionId": 7, "idTagInfo": {"status": "Blocked"}}
        return accept_all(action, payload)

    async with FakeCsms(auto_reply=refuse_starts) as csms:
        async with Fleet(csms.url, [ChargerSpec("CP-1", None)]) as fleet:
            await fleet.connect()
            run = await fleet.run(Mix.parse("session"), duration=5, max_units=1)
        conn = await csms.accept()
    assert [action for action, _ in conn.calls] == [
        "BootNotification",
        "StartTransaction",
        "StopTransaction",
    ]
    assert conn.calls[2][1]["transactionId"] == 7
    assert run["sessions"]["deauthorized"] == 1 and run["units"] == {"session": 1}


async def test_one_call_is_outstanding_and_an_unanswered_one_times_out() -> None:
    async with FakeCsms() as csms:
        fleet = Fleet(csms.url, [ChargerSpec("CP-1", None, "2.0.1")], call_timeout=0.3)
        async with fleet:
            connecting = asyncio.create_task(fleet.connect())
            conn = await csms.accept()
            message_id, _ = await conn.expect_call("BootNotification")
            await conn.reply(message_id, accept_all("BootNotification", {}))
            assert (await connecting)["connected"] == 1
            running = asyncio.create_task(fleet.run(Mix.parse("heartbeat"), duration=0.1))
            first, _ = await conn.expect_call("Heartbeat")
            with pytest.raises(TimeoutError):
                await conn.recv(timeout=0.2)  # nothing else while the first is unanswered
            run = await running
            await conn.reply(first, {"currentTime": NOW})  # too late
            await asyncio.sleep(0.1)
    assert run["actions"]["Heartbeat"]["timeouts"] == 1 and run["errors"] == 1
    assert fleet.counters.late_replies == 1


async def test_the_gateways_calls_are_answered_like_firmware_does() -> None:
    async with FakeCsms(auto_reply=accept_all) as csms:
        async with Fleet(csms.url, [ChargerSpec("CP-1", None)]) as fleet:
            await fleet.connect()
            conn = await csms.accept()
            reply = await conn.call("RemoteStopTransaction", {"transactionId": 7})
            assert reply[0] == 3 and reply[2] == {"status": "Accepted"}
            reply = await conn.call("GetLocalListVersion", {})
            assert reply[2] == {"listVersion": 0}
            reply = await conn.call("FlyToTheMoon", {})
            assert reply[0] == 4 and reply[2] == "NotImplemented"
            pong = await conn.ws.ping()
            await asyncio.wait_for(pong, 2)
    assert fleet.counters.server_calls == Counter(
        {"RemoteStopTransaction": 1, "GetLocalListVersion": 1, "FlyToTheMoon": 1}
    )


async def test_refused_upgrades_are_counted_by_status() -> None:
    async with FakeCsms(refuse=HTTPStatus.UNAUTHORIZED) as csms:
        async with Fleet(csms.url, numbered_chargers(3, password="wrong")) as fleet:
            connected = await fleet.connect()
    assert connected["connected"] == 0 and connected["failed"] == 3
    assert connected["actions"]["Connect"]["callerror_codes"] == {"HTTP 401": 3}
    assert_every_call_has_one_outcome(connected)


async def test_open_loop_keeps_to_the_rate_and_a_budget_caps_the_units() -> None:
    async with FakeCsms(auto_reply=accept_all) as csms:
        async with Fleet(csms.url, numbered_chargers(5)) as fleet:
            await fleet.connect()
            paced = await fleet.run(Mix.parse("authorize"), duration=1.0, rate=20)
            capped = await fleet.run(Mix.parse("authorize"), duration=5.0, max_units=7)
    assert 10 <= paced["units"]["authorize"] <= 20 + 5
    assert paced["mode"] == "open" and paced["schedule_lag_ms"]["max"] < 1000
    assert capped["units"] == {"authorize": 7} and capped["sent"] == 7


async def test_a_storm_drops_every_connection_and_all_come_back_booted() -> None:
    async with FakeCsms(auto_reply=accept_all) as csms:
        async with Fleet(csms.url, numbered_chargers(6, versions=("2.0.1",))) as fleet:
            await fleet.connect()
            storm = await fleet.storm(timeout=10)
            assert fleet.connected == 6
    assert storm["rebooted"] == 6 and storm["failed"] == 0
    assert storm["seconds_to_all_booted"] is not None
    assert storm["actions"]["BootNotification"]["results"] == 6
    assert len(csms.requests) == 12


async def test_closing_the_fleet_closes_every_connection_cleanly() -> None:
    async with FakeCsms(auto_reply=accept_all) as csms:
        async with Fleet(csms.url, numbered_chargers(3)) as fleet:
            await fleet.connect()
            connections = [await csms.accept() for _ in range(3)]
        for conn in connections:
            await asyncio.wait_for(conn.ws.wait_closed(), 2)
            assert conn.ws.close_code == 1000
    assert fleet.connected == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("authorise", "unknown unit"),
        ("authorize=x", "not a number"),
        ("authorize=0", "no unit with a positive weight"),
        ("heartbeat=-1", "negative"),
    ],
)
def test_a_bad_mix_is_explained(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Mix.parse(text)


def test_numbered_chargers_alternate_versions_and_fill_in_passwords() -> None:
    specs = numbered_chargers(3, prefix="CP-", start=8, width=3, password="pw-{n}-{id}")
    assert [s.charge_point_id for s in specs] == ["CP-008", "CP-009", "CP-010"]
    assert specs[2].password == "pw-10-CP-010"
    both = numbered_chargers(3, versions=("1.6", "2.0.1"))
    assert [s.version for s in both] == ["1.6", "2.0.1", "1.6"]
    with pytest.raises(ValueError, match="unknown OCPP version"):
        ChargerSpec("CP-1", None, "2.1")


async def test_the_summary_table_and_the_progress_line_show_the_counts() -> None:
    async with FakeCsms(auto_reply=accept_all) as csms:
        url = csms.url
        async with Fleet(url, numbered_chargers(2)) as fleet:
            connect = await fleet.connect()
            run = await fleet.run(Mix.parse("authorize=1,session=1"), duration=0.3)
            line, answered = progress_line(fleet, 0, 1.0)
    assert f"answered {run['answered']}" in line and "chargers 2/2" in line
    assert answered == run["answered"]
    summary = {
        "config": {
            "url": url,
            "chargers": 2,
            "ocpp": "1.6",
            "mix": "authorize=1,session=1",
            "rate": None,
        },
        "connect": connect,
        "run": run,
        "server_calls": {},
    }
    table = format_summary(summary)
    assert "connect: 2/2 connected and booted" in table
    assert f"{run['sent']} calls, {run['answered']} answered, 0 errors" in table
    assert "sessions:" in table and "Authorize" in table
