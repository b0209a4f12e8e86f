"""OCPP 2.0.1 end to end: TransactionEvent recording, seqNo rules, offline events."""

from __future__ import annotations

import pytest

from gateway.store.transactions import Known201
from simulators import CallError, ChargePoint201
from tests.conftest import GROUP, PASSWORDS, Harness


def station(gw: Harness) -> ChargePoint201:
    return ChargePoint201("CP201", url=gw.url, password=PASSWORDS["CP201"])


async def test_a_full_charging_session_is_recorded(gw: Harness) -> None:
    async with station(gw) as cs:
        assert (await cs.boot())["status"] == "Accepted"
        auth = await cs.authorize("tag-ok")
        assert auth["idTokenInfo"]["status"] == "Accepted"
        assert auth["idTokenInfo"]["groupIdToken"] == {"idToken": GROUP, "type": "Central"}
        assert "cacheExpiryDateTime" in auth["idTokenInfo"]
        tx, started = await cs.start_transaction("TAG-OK", meter_wh=1000)
        assert started["idTokenInfo"]["status"] == "Accepted"
        assert await cs.update_transaction(tx, 3000) == {}
        assert await cs.end_transaction(tx, 6000) == {}
    row = await gw.gateway.transactions.find("CP201", tx)
    assert row is not None
    assert row["state"] == "Ended" and row["energy_wh"] == 5000
    assert row["seq_count"] == 3 and row["missing_seq_nos"] == 0
    assert row["member_id"] == gw.members["TAG-OK"]


async def test_unknown_and_blocked_tokens_get_their_status(gw: Harness) -> None:
    await gw.add_token("TAG-BLOCKED", token_status="Blocked")
    await gw.add_token("TAG-PENDING", member_status="Pending")
    async with station(gw) as cs:
        await cs.boot()
        assert (await cs.authorize("NOBODY"))["idTokenInfo"]["status"] == "Unknown"
        assert (await cs.authorize("TAG-BLOCKED"))["idTokenInfo"]["status"] == "Blocked"
        assert (await cs.authorize("TAG-PENDING"))["idTokenInfo"]["status"] == "Invalid"
        tx, started = await cs.start_transaction("TAG-BLOCKED")
        assert started["idTokenInfo"]["status"] == "Blocked"
    row = await gw.gateway.transactions.find("CP201", tx)
    assert row is not None and row["flagged"] == 1


async def test_an_updated_before_started_creates_the_transaction(gw: Harness) -> None:
    async with station(gw) as cs:
        await cs.boot()
        await cs.transaction_event("Updated", "late-start", 1, "MeterValuePeriodic", meter_wh=50)
        await cs.transaction_event(
            "Started", "late-start", 0, "Authorized", id_token="TAG-OK", meter_wh=10
        )
    row = await gw.gateway.transactions.find("CP201", "late-start")
    assert row is not None
    assert row["seq_count"] == 2 and row["missing_seq_nos"] == 0
    assert row["auth_status"] == "Accepted"


async def test_seqno_gaps_are_recorded_and_repeats_replayed(gw: Harness) -> None:
    async with station(gw) as cs:
        await cs.boot()
        first = await cs.transaction_event("Started", "gappy", 0, "Authorized", id_token="TAG-OK")
        await cs.transaction_event("Updated", "gappy", 3, "MeterValuePeriodic", meter_wh=5)
        repeat = await cs.transaction_event("Started", "gappy", 0, "Authorized", id_token="TAG-OK")
    assert repeat == first
    row = await gw.gateway.transactions.find("CP201", "gappy")
    assert row is not None
    assert row["missing_seq_nos"] == 2 and row["seq_count"] == 2
    events = await gw.db_rows("SELECT seq_no FROM transaction_events ORDER BY seq_no")
    assert [e["seq_no"] for e in events] == [0, 3]


async def test_offline_events_are_recorded_like_the_rest(gw: Harness) -> None:
    async with station(gw) as cs:
        await cs.boot()
        await cs.transaction_event(
            "Started", "offline-1", 0, "Authorized", id_token="NOBODY", offline=True, meter_wh=0
        )
        await cs.transaction_event(
            "Ended",
            "offline-1",
            1,
            "StopAuthorized",
            offline=True,
            meter_wh=700,
            stopped_reason="Local",
        )
    row = await gw.gateway.transactions.find("CP201", "offline-1")
    assert row is not None
    assert row["offline"] == 1 and row["state"] == "Ended" and row["energy_wh"] == 700
    assert row["flagged"] == 1 and row["auth_status"] == "Accepted"
    assert row["flag_reason"] == "token.known"


async def test_other_201_messages_are_answered(gw: Harness) -> None:
    async with station(gw) as cs:
        await cs.boot()
        assert (await cs.heartbeat())["currentTime"].endswith("Z")
        assert await cs.status_notification(1, 1, "Occupied") == {}
        assert await cs.meter_values(1, 1234) == {}
        assert await cs.notify_report(1, 0) == {}
        assert await cs.notify_event() == {}
        assert await cs.security_event_notification("SettingSystemTime") == {}
        assert await cs.firmware_status_notification("Idle") == {}
        assert await cs.log_status_notification("Idle") == {}


async def test_201_error_codes_use_201_names(gw: Harness) -> None:
    async with station(gw) as cs:
        with pytest.raises(CallError) as before_boot:
            await cs.heartbeat()
        assert before_boot.value.code == "SecurityError"
        await cs.boot()
        with pytest.raises(CallError) as unsupported:
            await cs.call(
                "ReservationStatusUpdate",
                {"reservationId": 1, "reservationUpdateStatus": "Expired"},
            )
        assert unsupported.value.code == "NotSupported"
        with pytest.raises(CallError) as missing:
            await cs.call("Authorize", {})
        assert missing.value.code == "OccurrenceConstraintViolation"


async def test_the_gateway_can_call_the_station(gw: Harness) -> None:
    async with station(gw) as cs:
        await cs.boot()
        connection = gw.gateway.connections["CP201"]
        answer = await connection.call("RequestStopTransaction", {"transactionId": "abc"})
        assert answer["status"] == "Accepted"
        assert await cs.wait_for_call("RequestStopTransaction") == {"transactionId": "abc"}
        assert await connection.call("GetLocalListVersion", {}) == {"versionNumber": 0}


async def test_events_are_judged_from_the_row_when_the_store_forgot_or_misremembers(
    gw: Harness,
) -> None:
    transactions, cache = gw.gateway.transactions, gw.gateway.cache
    member = gw.members["TAG-OK"]

    def sessions_counted() -> int:
        return sum(day.sessions for day in cache.usage[member].days.values())

    async with station(gw) as cs:
        await cs.boot()
        tx, _ = await cs.start_transaction("TAG-OK", meter_wh=1000)
        assert sessions_counted() == 1
        transactions._open_201.clear()  # as after a restart: a token now is read for
        updated = await cs.transaction_event(
            "Updated", tx, 1, "Authorized", id_token="TAG-OK", meter_wh=2000
        )
        assert updated["idTokenInfo"]["status"] == "Accepted"
        assert sessions_counted() == 1  # the token of a started transaction: not a start
        known = transactions.open_201("CP201", tx)
        assert known is not None and known.has_token
        transactions._open_201[("CP201", tx)] = Known201(known.id, has_token=False)  # wrong
        again = await cs.transaction_event(
            "Updated", tx, 2, "Authorized", id_token="TAG-OK", meter_wh=2500
        )
        assert again["idTokenInfo"]["status"] == "Accepted"
        assert sessions_counted() == 1  # judged as a start first, then again from the row
        transactions._open_201.clear()  # an Ended the store does not remember
        assert await cs.end_transaction(tx, 3000) == {}
    row = await transactions.find("CP201", tx)
    assert row is not None
    assert row["state"] == "Ended" and row["energy_wh"] == 2000 and row["cost"] is not None
    assert row["seq_count"] == 4 and row["auth_status"] == "Accepted"
    assert cache.usage[member].running == {}  # settled in the cache as well
    assert transactions.open_201("CP201", tx) is None


async def test_a_session_reads_no_transaction_before_writing_its_events(
    gw: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    transactions = gw.gateway.transactions
    reads: list[str] = []

    async def counted(charge_point_id: str, transaction_uid: str) -> None:
        reads.append(transaction_uid)

    monkeypatch.setattr(transactions, "find", counted)
    monkeypatch.setattr(transactions, "find_201", counted)
    async with station(gw) as cs:
        await cs.boot()
        tx, started = await cs.start_transaction("TAG-OK", meter_wh=1000)
        assert started["idTokenInfo"]["status"] == "Accepted"
        await cs.update_transaction(tx, 2000)
        assert await cs.end_transaction(tx, 3000) == {}
    assert reads == []
    assert transactions.open_201("CP201", tx) is None
