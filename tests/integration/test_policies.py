"""The policy engine behind real chargers: every status of the decision table, enforcement
during a session, racing starts, and counters that survive a restart."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from gateway import demo
from gateway.app import create_app
from gateway.policy_engine import counted_start, local_date
from gateway.timeutil import parse_ocpp_datetime
from simulators import ChargePoint16, ChargePoint201
from tests.conftest import PASSWORDS, Harness, MovableClock, StartGateway

T0 = "2026-11-23T08:00:00Z"


async def seed_demo(gw: Harness) -> None:
    await demo.seed(gw.gateway.db, datetime.now(UTC))
    await gw.gateway.reload_cache(with_usage=True)  # as at start: the demo has a running session


async def set_policy(gw: Harness, token: str, body: dict[str, Any]) -> None:
    """What `ocpp-gateway policies set --member` writes, then the in-process reload."""
    member = gw.members[token]
    await gw.gateway.policies.set_policy(1, "member", member, body, datetime.now(UTC))
    await gw.gateway.reload_cache()


async def set_tariff(gw: Harness, price_minor_per_kwh: str, enforcement: str = "enforce") -> None:
    await gw.gateway.policies.update_organisation(
        1, price_per_kwh=price_minor_per_kwh, enforcement=enforcement
    )
    await gw.gateway.reload_cache()


@pytest.mark.parametrize("token", demo.TOKENS, ids=lambda t: t.value)
async def test_every_status_of_the_decision_table_in_both_versions(
    gw: Harness, token: demo.DemoToken
) -> None:
    await seed_demo(gw)
    async with ChargePoint16("DEMO-CP16", url=gw.url, password=demo.STATIONS["DEMO-CP16"]) as cp:
        await cp.boot()
        info16 = (await cp.authorize(token.value))["idTagInfo"]
    async with ChargePoint201("DEMO-CP201", url=gw.url, password=demo.STATIONS["DEMO-CP201"]) as cs:
        await cs.boot()
        info201 = (await cs.authorize(token.value))["idTokenInfo"]
    assert info16["status"] == token.expect_16
    assert info201["status"] == token.expect_201
    if token.expect_16 == "Accepted":
        assert info16["parentIdTag"] == demo.GROUP_TOKEN
        assert "expiryDate" in info16 and "cacheExpiryDateTime" in info201


async def test_an_accepted_never_outlives_its_hours_window(gw: Harness) -> None:
    """The charger's cache expiry is the end of the allowed window (the org's zone is UTC)."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    opens, closes = now - timedelta(minutes=1), now + timedelta(minutes=30)
    days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    window = {"days": days, "start": f"{opens:%H:%M}", "end": f"{closes:%H:%M}"}
    await set_policy(gw, "TAG-OK", {"hours": [window]})
    async with ChargePoint201("CP201", url=gw.url, password=PASSWORDS["CP201"]) as cs:
        await cs.boot()
        info = (await cs.authorize("TAG-OK"))["idTokenInfo"]
    async with ChargePoint16("CP16", url=gw.url, password=PASSWORDS["CP16"]) as cp:
        await cp.boot()
        info16 = (await cp.authorize("TAG-OK"))["idTagInfo"]
    assert info["status"] == info16["status"] == "Accepted"
    assert info["cacheExpiryDateTime"] == info16["expiryDate"] == f"{closes:%Y-%m-%dT%H:%M}:00.000Z"


async def test_deactivating_a_member_refuses_the_next_authorize_on_every_connection(
    gw: Harness,
) -> None:
    async with (
        ChargePoint16("CP16", url=gw.url, password=PASSWORDS["CP16"]) as cp,
        ChargePoint201("CP201", url=gw.url, password=PASSWORDS["CP201"]) as cs,
    ):
        await cp.boot()
        await cs.boot()
        assert (await cp.authorize("TAG-OK"))["idTagInfo"]["status"] == "Accepted"
        await gw.gateway.members.set_member_status(
            gw.members["TAG-OK"], "Inactive", datetime.now(UTC)
        )
        await gw.gateway.reload_cache()
        assert (await cp.authorize("TAG-OK"))["idTagInfo"]["status"] == "Blocked"
        assert (await cs.authorize("TAG-OK"))["idTokenInfo"]["status"] == "Blocked"


async def test_16_amount_cap_reached_mid_session_gets_a_remote_stop(gw: Harness) -> None:
    await set_tariff(gw, "30")  # 0.30 EUR per kWh
    await set_policy(gw, "TAG-OK", {"amount_caps": [{"limit": "1.00", "period": "month"}]})
    async with ChargePoint16("CP16", url=gw.url, password=PASSWORDS["CP16"]) as cp:
        await cp.boot()
        start = await cp.start_transaction(1, "TAG-OK", 10_000, timestamp=T0)
        assert start["idTagInfo"]["status"] == "Accepted"
        tx = start["transactionId"]
        await cp.meter_values(1, transaction_id=tx, energy_wh=12_000)  # 2 kWh = 0.60 EUR
        await cp.meter_values(1, transaction_id=tx, energy_wh=14_000)  # 4 kWh = 1.20 EUR
        assert await cp.wait_for_call("RemoteStopTransaction", timeout=5) == {"transactionId": tx}
        await cp.stop_transaction(tx, 14_100, timestamp="2026-11-23T09:00:00Z", reason="Remote")
        again = await cp.start_transaction(2, "TAG-OK", 0, timestamp="2026-11-23T09:05:00Z")
    assert again["idTagInfo"]["status"] == "Blocked", "1.6 maps NoCredit to Blocked"
    (row,) = await gw.db_rows("SELECT stop_requested, cost FROM transactions WHERE id = ?", tx)
    assert row == {"stop_requested": "cap.amount", "cost": 123}
    metrics = gw.gateway.metrics.render().decode()
    assert 'ocpp_gateway_sessions_stopped_total{reason="cap.amount"} 1.0' in metrics


async def test_201_energy_cap_reached_mid_session_is_refused_and_stopped(gw: Harness) -> None:
    await set_policy(gw, "TAG-OK", {"energy_caps_kwh": [{"limit": 3, "period": "day"}]})
    async with ChargePoint201("CP201", url=gw.url, password=PASSWORDS["CP201"]) as cs:
        await cs.boot()
        tx, started = await cs.start_transaction("TAG-OK", meter_wh=1000)
        assert started["idTokenInfo"]["status"] == "Accepted"
        assert await cs.update_transaction(tx, 2500) == {}
        update = await cs.update_transaction(tx, 4500)
        assert update["idTokenInfo"]["status"] == "NoCredit"
        assert await cs.wait_for_call("RequestStopTransaction", timeout=5) == {"transactionId": tx}


async def test_deactivation_while_charging_ends_the_session(gw: Harness) -> None:
    async with ChargePoint16("CP16", url=gw.url, password=PASSWORDS["CP16"]) as cp:
        await cp.boot()
        tx = (await cp.start_transaction(1, "TAG-OK", 0, timestamp=T0))["transactionId"]
        await gw.gateway.members.set_member_status(
            gw.members["TAG-OK"], "Inactive", datetime.now(UTC)
        )
        await gw.gateway.reload_cache()
        assert await cp.wait_for_call("RemoteStopTransaction", timeout=5) == {"transactionId": tx}
    metrics = gw.gateway.metrics.render().decode()
    assert 'ocpp_gateway_sessions_stopped_total{reason="member.status"} 1.0' in metrics


async def test_observe_mode_logs_and_counts_but_lets_the_session_run(gw: Harness) -> None:
    await set_tariff(gw, "30", enforcement="observe")
    await set_policy(gw, "TAG-OK", {"amount_caps": [{"limit": "0.50", "period": "day"}]})
    async with ChargePoint16("CP16", url=gw.url, password=PASSWORDS["CP16"]) as cp:
        await cp.boot()
        tx = (await cp.start_transaction(1, "TAG-OK", 0, timestamp=T0))["transactionId"]
        await cp.meter_values(1, transaction_id=tx, energy_wh=5000)
        with pytest.raises(TimeoutError):
            await cp.wait_for_call("RemoteStopTransaction", timeout=0.5)
    metrics = gw.gateway.metrics.render().decode()
    assert 'ocpp_gateway_policy_breaches_total{action="observe",rule="cap.amount"} 1.0' in metrics


async def test_two_racing_starts_for_the_last_session_exactly_one_wins(gw: Harness) -> None:
    await set_policy(gw, "TAG-OK", {"session_caps": [{"limit": 1, "period": "day"}]})
    cp = ChargePoint16("CP16", url=gw.url, password=PASSWORDS["CP16"])
    cx = ChargePoint16("CPX", url=gw.url, password=PASSWORDS["CPX"])
    async with cp, cx:
        await asyncio.gather(cp.boot(), cx.boot())
        answers = await asyncio.gather(
            cp.start_transaction(1, "TAG-OK", 0, timestamp=T0),
            cx.start_transaction(1, "TAG-OK", 0, timestamp=T0),
        )
    statuses = sorted(a["idTagInfo"]["status"] for a in answers)
    assert statuses == ["Accepted", "Blocked"]
    rows = await gw.db_rows("SELECT flagged FROM transactions ORDER BY flagged")
    assert [r["flagged"] for r in rows] == [0, 1], "the loser is still recorded, flagged"


async def test_racing_for_the_last_euro(gw: Harness) -> None:
    await set_tariff(gw, "30")
    await set_policy(gw, "TAG-OK", {"amount_caps": [{"limit": "5.00", "period": "month"}]})
    async with (
        ChargePoint201("CP201", url=gw.url, password=PASSWORDS["CP201"]) as a,
        ChargePoint16("CP16", url=gw.url, password=PASSWORDS["CP16"]) as b,
    ):
        await asyncio.gather(a.boot(), b.boot())
        (_, first), second = await asyncio.gather(
            a.start_transaction("TAG-OK"), b.start_transaction(1, "TAG-OK", 0, timestamp=T0)
        )
    assert sorted([first["idTokenInfo"]["status"], second["idTagInfo"]["status"]]) in (
        ["Accepted", "Blocked"],
        ["Accepted", "NoCredit"],
    )


async def test_counters_are_the_same_after_a_restart(
    start_gateway: StartGateway, clock: MovableClock
) -> None:
    """Late, future and very old starts count at the same instant live and after a restart:
    a start is believed from 30 days before its reception up to its reception
    (``policy_engine.counted_start``); outside that, it counts when received."""
    gw = await start_gateway()
    await set_tariff(gw, "30")
    await set_policy(gw, "TAG-OK", {"session_caps": [{"limit": 2, "period": "day"}]})
    now = clock()
    now = now.replace(microsecond=now.microsecond // 1000 * 1000)  # what a charger sends
    reported = {
        "an hour ago": now - timedelta(hours=1),
        "three days ago (a charger offline)": now - timedelta(days=3),
        "tomorrow (a clock ahead)": now + timedelta(days=1),
        "in 1970 (a clock reset)": datetime(1970, 1, 1, tzinfo=UTC),
    }
    async with ChargePoint16("CP16", url=gw.url, password=PASSWORDS["CP16"]) as cp:
        await cp.boot()
        for connector, at in enumerate(reported.values(), start=1):
            tx = (await cp.start_transaction(connector, "TAG-OK", 0, timestamp=at))["transactionId"]
            await cp.meter_values(connector, transaction_id=tx, energy_wh=2000)
            await cp.stop_transaction(tx, 3000, timestamp=at + timedelta(minutes=30))
        running = await cp.start_transaction(9, "TAG-OK", 0, timestamp=now - timedelta(days=2))
        await cp.meter_values(9, transaction_id=running["transactionId"], energy_wh=1500)
    received = clock()
    member = gw.members["TAG-OK"]
    before = gw.gateway.cache.usage[member]
    counted = [counted_start(at, received) for at in [*reported.values(), now - timedelta(days=2)]]
    assert counted[:2] == [reported["an hour ago"], reported["three days ago (a charger offline)"]]
    assert all(now <= at <= received for at in counted[2:4]), "counted when received"
    per_day = Counter(local_date(at, ZoneInfo("UTC")).toordinal() for at in counted)
    assert {day: t.sessions for day, t in before.days.items()} == per_day
    rows = await gw.db_rows("SELECT started_at, counted_at FROM transactions ORDER BY id")
    assert [parse_ocpp_datetime(r["started_at"]) for r in rows] == [
        *reported.values(),
        now - timedelta(days=2),
    ], "the charger's start is kept as reported"
    settings = gw.gateway.settings
    await gw.gateway.stop()

    restarted = create_app(settings, clock=clock)
    await restarted.start()
    try:
        after = restarted.cache.usage[member]
        assert after.days == before.days
        assert {k: (s.energy_wh, s.cost) for k, s in after.running.items()} == {
            k: (s.energy_wh, s.cost) for k, s in before.running.items()
        }
        url = f"ws://127.0.0.1:{restarted.ocpp_port}"
        decided = clock.freeze()  # a 1.6 start is judged when received, in that day's count
        async with ChargePoint16("CP16", url=url, password=PASSWORDS["CP16"]) as cp:
            third = await cp.start_transaction(3, "TAG-OK", 0, timestamp=reported["an hour ago"])
        today = local_date(decided, ZoneInfo("UTC")).toordinal()
        expected = "Blocked" if per_day[today] >= 2 else "Accepted"
        assert third["idTagInfo"]["status"] == expected, per_day
    finally:
        await restarted.stop()


async def test_a_2_0_1_session_counts_at_the_believed_start_live_and_after_a_restart(
    start_gateway: StartGateway, clock: MovableClock
) -> None:
    """2.0.1: the start counted is that of the event bringing the token; one started while
    offline two days ago counts in its own day, one stamped a year ahead counts now."""
    gw = await start_gateway()
    await set_policy(gw, "TAG-OK", {"session_caps": [{"limit": 5, "period": "day"}]})
    now = clock().replace(microsecond=0)
    offline_start, ahead = now - timedelta(days=2), now + timedelta(days=365)
    async with ChargePoint201("CP201", url=gw.url, password=PASSWORDS["CP201"]) as cp:
        await cp.boot()
        late, _ = await cp.start_transaction("TAG-OK", offline=True, timestamp=offline_start)
        await cp.end_transaction(late, 1000, timestamp=offline_start + timedelta(hours=1))
        future, _ = await cp.start_transaction("TAG-OK", evse_id=2, timestamp=ahead)
        await cp.end_transaction(future, 1000, timestamp=ahead + timedelta(hours=1))
    received = clock()
    member = gw.members["TAG-OK"]
    before = {day: t.sessions for day, t in gw.gateway.cache.usage[member].days.items()}
    utc = ZoneInfo("UTC")
    days = [local_date(offline_start, utc).toordinal(), local_date(received, utc).toordinal()]
    assert before == Counter(days)
    rows = await gw.db_rows("SELECT counted_at FROM transactions ORDER BY id")
    counted = [parse_ocpp_datetime(r["counted_at"]) for r in rows]
    assert counted[0] == offline_start and now <= counted[1] <= received
    settings = gw.gateway.settings
    await gw.gateway.stop()
    restarted = create_app(settings, clock=clock)
    await restarted.start()
    try:
        after = {day: t.sessions for day, t in restarted.cache.usage[member].days.items()}
        assert after == before
    finally:
        await restarted.stop()
