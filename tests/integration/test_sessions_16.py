"""OCPP 1.6J end to end: sessions, idempotency, quarantine, boot rules, the gateway's own calls."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from simulators import CallError, ChargePoint16
from tests.conftest import GROUP, PASSWORDS, Harness

T0 = "2026-11-23T08:00:00Z"


def charger(gw: Harness) -> ChargePoint16:
    return ChargePoint16("CP16", url=gw.url, password=PASSWORDS["CP16"])


async def test_a_full_charging_session_is_recorded(gw: Harness) -> None:
    async with charger(gw) as cp:
        boot = await cp.boot()
        assert boot["status"] == "Accepted" and boot["interval"] == 300
        assert (await cp.authorize("tag-ok"))["idTagInfo"]["status"] == "Accepted"
        start = await cp.start_transaction(1, "TAG-OK", 1000, timestamp=T0)
        info = start["idTagInfo"]
        assert info["status"] == "Accepted" and info["parentIdTag"] == GROUP
        expiry = datetime.fromisoformat(info["expiryDate"].replace("Z", "+00:00"))
        assert expiry <= datetime.now(UTC) + timedelta(days=1, seconds=5)
        tx = start["transactionId"]
        assert isinstance(tx, int) and 0 < tx < 2**31
        await cp.meter_values(1, transaction_id=tx, energy_wh=4000)
        await cp.status_notification(1, "Charging")
        await cp.stop_transaction(tx, 8500, timestamp="2026-11-23T09:00:00Z", reason="Local")
    (row,) = await gw.db_rows("SELECT * FROM transactions WHERE id = ?", tx)
    assert row["state"] == "Ended"
    assert row["energy_wh"] == 7500
    assert row["meter_last_wh"] == 4000
    assert row["auth_status"] == "Accepted" and not row["flagged"]
    assert row["member_id"] == gw.members["TAG-OK"]
    (values,) = await gw.db_rows(
        "SELECT count(*) AS n FROM meter_values WHERE transaction_id = ?", tx
    )
    assert values["n"] == 1


async def test_transaction_ids_are_unique_and_never_reused(gw: Harness) -> None:
    async with charger(gw) as cp:
        await cp.boot()
        ids = []
        for n in range(5):
            start = await cp.start_transaction(
                n + 1, "TAG-OK", 0, timestamp=f"2026-11-23T08:0{n}:00Z"
            )
            ids.append(start["transactionId"])
        await gw.gateway.db.write(
            lambda db: db.execute("DELETE FROM transactions WHERE id = ?", (ids[-1],))
        )
        again = await cp.start_transaction(1, "TAG-OK", 0, timestamp="2026-11-23T08:30:00Z")
    assert len(set(ids)) == 5
    assert again["transactionId"] > max(ids)


async def test_start_transaction_is_idempotent(gw: Harness) -> None:
    async with charger(gw) as cp:
        await cp.boot()
        first = await cp.start_transaction(1, "TAG-OK", 1000, timestamp=T0)
    async with charger(gw) as cp:  # a retry after a reconnect, with a new message id
        second = await cp.start_transaction(
            1, "tag-ok", 1000, timestamp="2026-11-23T09:00:00+01:00"
        )
        other = await cp.start_transaction(1, "TAG-OK", 1001, timestamp=T0)
    assert second["transactionId"] == first["transactionId"]
    assert other["transactionId"] != first["transactionId"]
    rows = await gw.db_rows("SELECT id FROM transactions")
    assert len(rows) == 2


async def test_a_refused_start_is_still_recorded_and_flagged(gw: Harness) -> None:
    await gw.add_token("TAG-BLOCKED", token_status="Blocked")
    async with charger(gw) as cp:
        await cp.boot()
        start = await cp.start_transaction(2, "TAG-BLOCKED", 0, timestamp=T0)
        unknown = await cp.start_transaction(3, "NOBODY", 0, timestamp=T0)
    assert start["idTagInfo"]["status"] == "Blocked"
    assert unknown["idTagInfo"]["status"] == "Invalid"
    rows = await gw.db_rows(
        "SELECT auth_status, flagged, flag_reason FROM transactions ORDER BY id"
    )
    assert rows == [
        {"auth_status": "Blocked", "flagged": 1, "flag_reason": "token.status"},
        {"auth_status": "Unknown", "flagged": 1, "flag_reason": "token.known"},
    ]


@pytest.mark.parametrize("transaction_id", [-1, 424242])
async def test_stop_and_meter_values_for_unknown_transactions_are_quarantined(
    gw: Harness, transaction_id: int
) -> None:
    async with charger(gw) as cp:
        await cp.boot()
        assert await cp.stop_transaction(transaction_id, 500, timestamp=T0) == {}
        assert await cp.meter_values(1, transaction_id=transaction_id, energy_wh=10) == {}
    rows = await gw.gateway.transactions.quarantined("CP16")
    assert [(r["action"], r["reason"]) for r in rows] == [
        ("StopTransaction", "unknown_transaction"),
        ("MeterValues", "unknown_transaction"),
    ]
    assert '"meterStop":500' in rows[0]["payload"]


async def test_a_stop_from_another_charger_is_quarantined(gw: Harness) -> None:
    async with charger(gw) as cp:
        await cp.boot()
        tx = (await cp.start_transaction(1, "TAG-OK", 0, timestamp=T0))["transactionId"]
    async with ChargePoint16("CPX", url=gw.url, password=PASSWORDS["CPX"]) as other:
        await other.boot()
        await other.stop_transaction(tx, 100, timestamp=T0)
    (row,) = await gw.db_rows("SELECT state FROM transactions WHERE id = ?", tx)
    assert row["state"] == "Open"
    assert len(await gw.gateway.transactions.quarantined("CPX")) == 1


async def test_calls_before_boot_are_security_errors(gw: Harness) -> None:
    async with charger(gw) as cp:
        with pytest.raises(CallError) as caught:
            await cp.authorize("TAG-OK")
        assert caught.value.code == "SecurityError"
        await cp.boot()
        assert (await cp.authorize("TAG-OK"))["idTagInfo"]["status"] == "Accepted"


async def test_a_charger_accepted_once_may_reconnect_without_booting(gw: Harness) -> None:
    async with charger(gw) as cp:
        await cp.boot()
    async with charger(gw) as cp:
        assert (await cp.authorize("TAG-OK"))["idTagInfo"]["status"] == "Accepted"


async def test_a_retried_call_is_answered_again_without_doing_the_work_twice(gw: Harness) -> None:
    async with charger(gw) as cp:
        await cp.boot()
        tx = (await cp.start_transaction(1, "TAG-OK", 0, timestamp=T0))["transactionId"]
        payload = {
            "connectorId": 1,
            "transactionId": tx,
            "meterValue": [{"timestamp": T0, "sampledValue": [{"value": "100"}]}],
        }
        first = await cp.call("MeterValues", payload, message_id="mv-1")
    async with charger(gw) as cp:
        again = await cp.call("MeterValues", payload, message_id="mv-1")
        with pytest.raises(CallError) as caught:
            await cp.call("MeterValues", {**payload, "connectorId": 2}, message_id="mv-1")
    assert first == again == {}
    assert caught.value.code == "ProtocolError"
    (row,) = await gw.db_rows("SELECT count(*) AS n FROM meter_values")
    assert row["n"] == 1


async def test_a_boot_starts_a_new_message_id_space(gw: Harness) -> None:
    async with charger(gw) as cp:
        await cp.boot()
        await cp.call("Authorize", {"idTag": "TAG-OK"}, message_id="1")
        await cp.boot()  # the charger rebooted and counts from 1 again
        answer = await cp.call("Authorize", {"idTag": "NOBODY"}, message_id="1")
    assert answer["idTagInfo"]["status"] == "Invalid"


async def test_the_gateway_can_call_the_charger(gw: Harness) -> None:
    async with charger(gw) as cp:
        await cp.boot()
        connection = gw.gateway.connections["CP16"]
        answer = await connection.call("RemoteStopTransaction", {"transactionId": 7})
        assert answer == {"status": "Accepted"}
        assert await cp.wait_for_call("RemoteStopTransaction") == {"transactionId": 7}
        assert await connection.call("GetLocalListVersion", {}) == {"listVersion": 0}
        assert (await connection.call("ClearCache", {}))["status"] == "Accepted"
        send_list = {"listVersion": 1, "updateType": "Full"}
        assert (await connection.call("SendLocalList", send_list))["status"] == "Accepted"


async def test_gateway_calls_go_one_at_a_time_and_time_out(gw: Harness) -> None:
    async with charger(gw) as cp:
        await cp.boot()
        release = asyncio.Event()
        seen: list[str] = []

        async def slow_clear(payload: dict[str, object]) -> dict[str, object]:
            seen.append("start")
            await release.wait()
            seen.append("end")
            return {"status": "Accepted"}

        cp.set_handler("ClearCache", slow_clear)
        connection = gw.gateway.connections["CP16"]
        first = asyncio.create_task(connection.call("ClearCache", {}, timeout=5))
        second = asyncio.create_task(connection.call("ClearCache", {}, timeout=5))
        await asyncio.sleep(0.3)
        assert seen == ["start"], "the second CALL waits for the first answer"
        release.set()
        assert (await first)["status"] == "Accepted"
        assert (await second)["status"] == "Accepted"

        cp.set_handler("GetLocalListVersion", lambda payload: asyncio.sleep(10))
        with pytest.raises(TimeoutError):
            await connection.call("GetLocalListVersion", {}, timeout=0.3)


async def test_other_16_messages_are_answered(gw: Harness) -> None:
    async with charger(gw) as cp:
        await cp.boot()
        assert (await cp.heartbeat())["currentTime"].endswith("Z")
        assert (await cp.data_transfer("com.example"))["status"] == "UnknownVendorId"
        assert await cp.diagnostics_status_notification("Idle") == {}
        assert await cp.firmware_status_notification("Idle") == {}
        assert await cp.security_event_notification("SettingSystemTime") == {}
        assert await cp.meter_values(1, energy_wh=5) == {}
