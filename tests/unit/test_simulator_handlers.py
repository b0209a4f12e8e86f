"""How the simulator answers the gateway's CALLs: defaults, overrides, errors, records."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from ocpp.exceptions import PropertyConstraintViolationError

from simulators import CallError, ChargePoint16, ChargePoint201
from simulators.testing import CsmsConnection, FakeCsms


@pytest.fixture
async def pair() -> AsyncIterator[tuple[ChargePoint16, CsmsConnection]]:
    async with FakeCsms() as csms, ChargePoint16("CP-1", url=csms.url) as cp:
        yield cp, await csms.accept()


async def test_default_handlers_answer_like_a_charger(
    pair: tuple[ChargePoint16, CsmsConnection],
) -> None:
    cp, conn = pair
    reply = await conn.call("RemoteStopTransaction", {"transactionId": 7})
    assert reply[0] == 3 and reply[2] == {"status": "Accepted"}
    reply = await conn.call("GetConfiguration", {"key": ["HeartbeatInterval"]})
    assert reply[2] == {"configurationKey": [], "unknownKey": ["HeartbeatInterval"]}
    assert cp.received_calls == [
        ("RemoteStopTransaction", {"transactionId": 7}),
        ("GetConfiguration", {"key": ["HeartbeatInterval"]}),
    ]


async def test_an_unknown_action_gets_not_implemented(
    pair: tuple[ChargePoint16, CsmsConnection],
) -> None:
    cp, conn = pair
    reply = await conn.call("FlyToTheMoon", {})
    assert reply[0] == 4 and reply[2] == "NotImplemented"
    assert len(reply) == 5 and reply[4] == {}
    assert cp.received_calls == [("FlyToTheMoon", {})]


async def test_wait_for_call_returns_each_call_once_in_order(
    pair: tuple[ChargePoint16, CsmsConnection],
) -> None:
    cp, conn = pair
    waiting = asyncio.create_task(cp.wait_for_call("Reset"))
    await conn.call("Reset", {"type": "Soft"})
    await conn.call("ClearCache", {})
    await conn.call("Reset", {"type": "Hard"})
    assert await waiting == {"type": "Soft"}
    assert await cp.wait_for_call("Reset") == {"type": "Hard"}
    assert await cp.wait_for_call("ClearCache") == {}
    with pytest.raises(TimeoutError):
        await cp.wait_for_call("Reset", timeout=0.05)


async def test_wait_for_call_returns_after_the_answer_was_sent(
    pair: tuple[ChargePoint16, CsmsConnection],
) -> None:
    cp, conn = pair
    await conn.send([2, "r1", "Reset", {"type": "Soft"}])
    assert await cp.wait_for_call("Reset") == {"type": "Soft"}
    assert await conn.recv(timeout=0.5) == [3, "r1", {"status": "Accepted"}]


async def test_handlers_may_be_sync_or_async_overrides(
    pair: tuple[ChargePoint16, CsmsConnection],
) -> None:
    cp, conn = pair
    cp.set_handler("Reset", lambda payload: {"status": "Rejected"})

    async def unlock(payload: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(0)
        return {"status": "NotSupported" if payload["connectorId"] == 9 else "Unlocked"}

    cp.set_handler("UnlockConnector", unlock)
    assert (await conn.call("Reset", {"type": "Hard"}))[2] == {"status": "Rejected"}
    assert (await conn.call("UnlockConnector", {"connectorId": 9}))[2] == {"status": "NotSupported"}


async def test_a_handler_raising_call_error_answers_that_callerror(
    pair: tuple[ChargePoint16, CsmsConnection],
) -> None:
    cp, conn = pair

    def refuse(payload: dict[str, Any]) -> dict[str, Any]:
        raise CallError("OccurenceConstraintViolation", "no such key", {"key": "X"})

    cp.set_handler("ChangeConfiguration", refuse)
    reply = await conn.call("ChangeConfiguration", {"key": "X", "value": "1"})
    assert reply[2:] == ["OccurenceConstraintViolation", "no such key", {"key": "X"}]


async def test_a_handler_raising_an_ocpp_package_error_answers_its_code(
    pair: tuple[ChargePoint16, CsmsConnection],
) -> None:
    cp, conn = pair

    def refuse(payload: dict[str, Any]) -> dict[str, Any]:
        raise PropertyConstraintViolationError("connectorId out of range")

    cp.set_handler("ChangeAvailability", refuse)
    reply = await conn.call("ChangeAvailability", {"connectorId": 99, "type": "Operative"})
    assert reply[2:] == ["PropertyConstraintViolation", "connectorId out of range", {}]


async def test_a_failing_handler_answers_internal_error(
    pair: tuple[ChargePoint16, CsmsConnection],
) -> None:
    cp, conn = pair

    def broken(payload: dict[str, Any]) -> dict[str, Any]:
        raise KeyError("boom")

    cp.set_handler("Reset", broken)
    reply = await conn.call("Reset", {"type": "Soft"})
    assert reply[2] == "InternalError" and "KeyError" in reply[3]


async def test_a_handler_returning_something_not_json_answers_internal_error(
    pair: tuple[ChargePoint16, CsmsConnection],
) -> None:
    cp, conn = pair
    cp.set_handler("Reset", lambda payload: {"status": object()})
    reply = await conn.call("Reset", {"type": "Soft"})
    assert reply[2] == "InternalError" and "TypeError" in reply[3]


async def test_a_handler_set_to_none_makes_the_action_unsupported(
    pair: tuple[ChargePoint16, CsmsConnection],
) -> None:
    cp, conn = pair
    cp.set_handler("Reset", None)
    assert (await conn.call("Reset", {"type": "Soft"}))[2] == "NotImplemented"


async def test_a_malformed_call_from_the_gateway_is_unmatched_not_answered(
    pair: tuple[ChargePoint16, CsmsConnection],
) -> None:
    cp, conn = pair
    await conn.send([2, "m", "Reset"])
    assert await cp.next_frame() == [2, "m", "Reset"]
    assert cp.received_calls == []
    with pytest.raises(TimeoutError):
        await conn.recv(timeout=0.1)


async def test_a_handler_may_itself_call_the_gateway(
    pair: tuple[ChargePoint16, CsmsConnection],
) -> None:
    """A charger accepts RemoteStartTransaction, then sends StartTransaction."""
    cp, conn = pair
    started: list[dict[str, Any]] = []

    async def remote_start(payload: dict[str, Any]) -> dict[str, Any]:
        started.append(await cp.start_transaction(1, payload["idTag"], 0))
        return {"status": "Accepted"}

    cp.set_handler("RemoteStartTransaction", remote_start)
    await conn.send([2, "r1", "RemoteStartTransaction", {"idTag": "T"}])
    message_id, payload = await conn.expect_call("StartTransaction")
    assert payload["idTag"] == "T"
    await conn.reply(message_id, {"transactionId": 5, "idTagInfo": {"status": "Accepted"}})
    assert await conn.recv() == [3, "r1", {"status": "Accepted"}]
    assert started == [{"transactionId": 5, "idTagInfo": {"status": "Accepted"}}]


async def test_close_cancels_a_handler_still_running() -> None:
    entered, cancelled = asyncio.Event(), asyncio.Event()

    async def hang(payload: dict[str, Any]) -> dict[str, Any]:
        entered.set()
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()
        return {}

    async with FakeCsms() as csms:
        cp = ChargePoint201("CP-1", url=csms.url)
        cp.set_handler("Reset", hang)
        await cp.connect()
        conn = await csms.accept()
        await conn.send([2, "r1", "Reset", {"type": "Immediate"}])
        await asyncio.wait_for(entered.wait(), 5)
        await cp.close()
        assert cancelled.is_set()
        assert [t for t in asyncio.all_tasks() if t.get_name().startswith("ocpp-sim:")] == []
