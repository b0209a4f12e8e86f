"""Calls answered off the pump never overtake queued CALLs.

A charger may have one CALL outstanding, but one that sends several at once
must still get every answer, each once, in the order of its CALLs: an
Authorize queued behind a StartTransaction (which waits for the database)
goes through the pump; on an idle connection it is answered as soon as it
is read, with the same answer. On an idle connection a call that waits for
the database is handled in its own task, holding the connection's turn;
what arrives meanwhile waits in the pump, and a charger that leaves before
the answer does not stop the work.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from gateway.store.transactions import TransactionStore
from gateway.transport.connection import ChargerConnection
from tests.adversity.test_bad_frames import raw_charger
from tests.conftest import Harness

NOW = "2026-11-23T10:00:00Z"
NOW_DT = datetime(2026, 11, 23, 10, tzinfo=UTC)


def _actions_through(monkeypatch: pytest.MonkeyPatch, method: str) -> list[str]:
    """The actions of the CALLs that go through ``ChargerConnection.<method>``."""
    seen: list[str] = []
    original = getattr(ChargerConnection, method)

    async def counted(self: ChargerConnection, call: Any) -> None:
        seen.append(call.action)
        await original(self, call)

    monkeypatch.setattr(ChargerConnection, method, counted)
    return seen


@pytest.fixture
def in_hand(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The actions of the CALLs handled in their own task (off the pump)."""
    return _actions_through(monkeypatch, "_handle_in_hand")


@pytest.fixture
def pumped(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The actions of the CALLs that were handled, not answered at once (the pump, or a
    task of their own)."""
    return _actions_through(monkeypatch, "_on_call")


async def test_pipelined_calls_are_answered_in_order(gw: Harness, pumped: list[str]) -> None:
    calls = [
        [2, "s1", "StartTransaction", {"connectorId": 1, "idTag": "TAG-OK", "meterStart": 0,
                                       "timestamp": NOW}],
        [2, "a1", "Authorize", {"idTag": "TAG-OK"}],
        [2, "h1", "Heartbeat", {}],
        [2, "m1", "MeterValues", {"connectorId": 1, "meterValue": [
            {"timestamp": NOW, "sampledValue": [{"value": "10"}]}]}],
        [2, "a2", "Authorize", {"idTag": "UNKNOWN"}],
        [2, "bad", "Authorize", {}],
    ]  # fmt: skip
    async with raw_charger(gw, "1.6") as ws:
        pumped.clear()
        for call in calls:
            await ws.send(json.dumps(call))
        answers = [json.loads(await ws.recv()) for _ in calls]
        assert [a[1] for a in answers] == ["s1", "a1", "h1", "m1", "a2", "bad"]
        assert [a[0] for a in answers] == [3, 3, 3, 3, 3, 4]
        assert answers[1][2]["idTagInfo"]["status"] == "Accepted"
        assert answers[4][2]["idTagInfo"]["status"] == "Invalid"
        assert answers[5][2] == "OccurenceConstraintViolation"
        # The Authorize right behind the StartTransaction waited in the pump.
        assert pumped[:2] == ["StartTransaction", "Authorize"]

        # Idle again: an Authorize is answered at once, with the same answer.
        pumped.clear()
        await ws.send(json.dumps([2, "a3", "Authorize", {"idTag": "TAG-OK"}]))
        alone = json.loads(await ws.recv())
        assert pumped == []
        assert alone[:2] == [3, "a3"]
        same = {k: v for k, v in answers[1][2]["idTagInfo"].items() if k != "expiryDate"}
        assert alone[2]["idTagInfo"].items() >= same.items()  # the expiry counts from now


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_a_retried_authorize_is_decided_again(
    gw: Harness, version: str, pumped: list[str]
) -> None:
    """Nothing durable to do twice: the same message id gets the current decision."""
    payload: dict[str, Any] = (
        {"idTag": "TAG-OK"}
        if version == "1.6"
        else {"idToken": {"idToken": "TAG-OK", "type": "ISO14443"}}
    )
    info = "idTagInfo" if version == "1.6" else "idTokenInfo"
    async with raw_charger(gw, version) as ws:
        pumped.clear()
        frame = json.dumps([2, "same-id", "Authorize", payload])
        await ws.send(frame)
        first = json.loads(await ws.recv())
        await gw.gateway.members.set_member_status(gw.members["TAG-OK"], "Inactive", NOW_DT)
        await gw.gateway.refresh_cache([gw.members["TAG-OK"]])
        await ws.send(frame)
        again = json.loads(await ws.recv())
    assert pumped == []
    assert first[:2] == again[:2] == [3, "same-id"]
    assert first[2][info]["status"] == "Accepted"
    assert again[2][info]["status"] == "Blocked"


START = {"connectorId": 1, "idTag": "TAG-OK", "meterStart": 0, "timestamp": NOW}


async def test_a_waiting_call_on_an_idle_connection_is_handled_off_the_pump(
    gw: Harness, in_hand: list[str]
) -> None:
    async with raw_charger(gw, "1.6") as ws:
        await ws.send(json.dumps([2, "s1", "StartTransaction", START]))
        started = json.loads(await ws.recv())
        assert started[:2] == [3, "s1"] and started[2]["idTagInfo"]["status"] == "Accepted"
        assert in_hand == ["StartTransaction"]
        # Pipelined behind one handled off the pump: in order, each answered once.
        meter = {"connectorId": 1, "transactionId": started[2]["transactionId"],
                 "meterValue": [{"timestamp": NOW, "sampledValue": [{"value": "10"}]}]}  # fmt: skip
        calls = [
            [2, "m1", "MeterValues", meter],
            [2, "a1", "Authorize", {"idTag": "TAG-OK"}],
            [2, "m2", "MeterValues", meter],
            [2, "h1", "Heartbeat", {}],
        ]
        for call in calls:
            await ws.send(json.dumps(call))
        answers = [json.loads(await ws.recv()) for _ in calls]
        assert [a[:2] for a in answers] == [[3, "m1"], [3, "a1"], [3, "m2"], [3, "h1"]]
        assert in_hand[0:2] == ["StartTransaction", "MeterValues"]


async def test_a_charger_leaving_before_its_answer_does_not_stop_the_write(
    gw: Harness, in_hand: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    release = asyncio.Event()
    original = TransactionStore.start_16

    async def held(self: TransactionStore, *args: Any, **kwargs: Any) -> Any:
        await release.wait()
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(TransactionStore, "start_16", held)
    async with raw_charger(gw, "1.6") as ws:
        await ws.send(json.dumps([2, "s1", "StartTransaction", START]))
        for _ in range(100):
            if in_hand:
                break
            await asyncio.sleep(0.01)
        assert in_hand == ["StartTransaction"]
    release.set()  # the charger is gone; its start is written all the same
    rows: list[dict[str, Any]] = []
    for _ in range(200):
        rows = await gw.db_rows("SELECT id_token, state FROM transactions")
        if rows:
            break
        await asyncio.sleep(0.01)
    assert rows == [{"id_token": "TAG-OK", "state": "Open"}]
    async with raw_charger(gw, "1.6") as ws:  # and the charger is served when it is back
        await ws.send(json.dumps([2, "s1", "StartTransaction", START]))
        again = json.loads(await ws.recv())
        assert again[:2] == [3, "s1"]  # its retry gets the same transaction
        assert (await gw.db_rows("SELECT count(*) AS n FROM transactions"))[0]["n"] == 1


async def test_a_frame_waiting_for_its_turn_is_not_overtaken(
    gw: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pump holds a frame while a call in hand finishes: a Heartbeat read just after
    must wait behind it, not be answered in the gap (found in review)."""
    release, reached = asyncio.Event(), asyncio.Event()
    original = ChargerConnection._answer

    async def held(self: ChargerConnection, call: Any) -> str:
        text = await original(self, call)
        if call.action == "StartTransaction":
            reached.set()
            await release.wait()
        return text

    monkeypatch.setattr(ChargerConnection, "_answer", held)
    meter = {"connectorId": 1, "meterValue": [
        {"timestamp": NOW, "sampledValue": [{"value": "10"}]}]}  # fmt: skip
    async with raw_charger(gw, "1.6") as ws:
        await ws.send(json.dumps([2, "s1", "StartTransaction", START]))
        await reached.wait()
        await ws.send(json.dumps([2, "m1", "MeterValues", meter]))
        await asyncio.sleep(0.05)  # the pump has m1 and waits for its turn
        release.set()
        await ws.send(json.dumps([2, "h1", "Heartbeat", {}]))
        answers = [json.loads(await ws.recv())[1] for _ in range(3)]
        assert answers == ["s1", "m1", "h1"]
