"""Mid-session enforcement and transactions that happened offline."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from gateway.policy_engine import (
    EMPTY_USAGE,
    Action,
    AuthRequest,
    AuthStatus,
    Decision,
    EnforcementMode,
    MemberStatus,
    MemberUsage,
    Period,
    PeriodCap,
    Policy,
    Rule,
    Snapshot,
    TokenStatus,
    WeeklySchedule,
    flag_offline,
    recheck_running,
    reserve_start,
    start_session,
    update_meter,
)

from .builders import (
    LIFETIME,
    MEMBER_ID,
    NOW,
    PARIS,
    STATION,
    TOKEN,
    ask,
    make_member,
    make_snapshot,
    make_token,
    org_scope,
    session_start,
)

CAPPED = {org_scope(): Policy(amount_caps=(PeriodCap(1000, Period.week()),))}


def _running(snapshot: Snapshot, energy_wh: int = 0) -> MemberUsage:
    usage = reserve_start(snapshot, EMPTY_USAGE, session_start())
    assert isinstance(usage, MemberUsage)
    return update_meter(usage, "tx-1", energy_wh)


def test_session_below_its_caps_continues() -> None:
    snapshot = make_snapshot(policies=CAPPED)
    verdict = recheck_running(snapshot, _running(snapshot, 39_000), "tx-1", NOW)  # 9.75 EUR
    assert verdict.action is Action.CONTINUE
    assert verdict.status is AuthStatus.ACCEPTED
    assert not verdict.stop


def test_meter_values_reaching_the_amount_cap_stop_the_session() -> None:
    """The hold does not count here: only what was actually spent (40 kWh x 0.25 = 10 EUR)."""
    snapshot = make_snapshot(policies=CAPPED)
    verdict = recheck_running(snapshot, _running(snapshot, 40_000), "tx-1", NOW)
    assert verdict.stop
    assert verdict.status is AuthStatus.NO_CREDIT
    assert verdict.reason.rule == Rule.CAP_AMOUNT
    assert verdict.reason.value == "1000 minor units spent"
    assert verdict.checks[-1] == verdict.reason


def test_energy_cap_reached_stops_the_session() -> None:
    snapshot = make_snapshot(
        policies={org_scope(): Policy(energy_caps=(PeriodCap(20_000, Period.day()),))}
    )
    assert not recheck_running(snapshot, _running(snapshot, 19_999), "tx-1", NOW).stop
    verdict = recheck_running(snapshot, _running(snapshot, 20_000), "tx-1", NOW)
    assert (verdict.stop, verdict.reason.rule) == (True, Rule.CAP_ENERGY)


def test_member_deactivated_while_charging_stops_the_session() -> None:
    usage = _running(make_snapshot())
    reloaded = make_snapshot(member=make_member(status=MemberStatus.INACTIVE))
    verdict = recheck_running(reloaded, usage, "tx-1", NOW)
    assert verdict.stop
    assert (verdict.status, verdict.reason.rule) == (AuthStatus.BLOCKED, Rule.MEMBER_STATUS)


def test_token_blocked_while_charging_stops_the_session() -> None:
    usage = _running(make_snapshot())
    reloaded = make_snapshot(token=make_token(status=TokenStatus.LOST))
    verdict = recheck_running(reloaded, usage, "tx-1", NOW)
    assert verdict.stop
    assert (verdict.status, verdict.reason.rule) == (AuthStatus.BLOCKED, Rule.TOKEN_STATUS)


def test_observe_mode_flags_without_stopping() -> None:
    snapshot = make_snapshot(policies=CAPPED, enforcement=EnforcementMode.OBSERVE)
    verdict = recheck_running(snapshot, _running(snapshot, 50_000), "tx-1", NOW)
    assert verdict.action is Action.OBSERVE
    assert not verdict.stop
    assert verdict.status is AuthStatus.NO_CREDIT


def test_hours_ending_mid_session_do_not_stop_it() -> None:
    snapshot = make_snapshot(
        policies={org_scope(): Policy(hours=WeeklySchedule.every_day(time(8), time(14, 30)))}
    )
    usage = _running(snapshot)
    assert not recheck_running(snapshot, usage, "tx-1", NOW + timedelta(hours=2)).stop


def test_unknown_session_continues() -> None:
    verdict = recheck_running(make_snapshot(), EMPTY_USAGE, "tx-404", NOW)
    assert verdict.action is Action.CONTINUE
    assert verdict.reason.rule == Rule.SESSION_KNOWN


def test_caps_are_checked_in_the_period_the_session_started() -> None:
    """A session started on Sunday evening counts in that week, not the new one."""
    snapshot = make_snapshot(policies=CAPPED)
    sunday = datetime(2024, 6, 16, 23, 0, tzinfo=PARIS)
    usage = start_session(EMPTY_USAGE, session_start(started_at=sunday), PARIS)
    usage = update_meter(usage, "tx-1", 40_000)
    verdict = recheck_running(snapshot, usage, "tx-1", sunday + timedelta(hours=2))
    assert verdict.stop
    assert ask(snapshot, sunday + timedelta(hours=2), usage={MEMBER_ID: usage}).accepted


# ---- offline transactions --------------------------------------------------------------


def _offline(
    snapshot: Snapshot, at: datetime, usage: dict[int, MemberUsage] | None = None
) -> Decision:
    request = AuthRequest(TOKEN, STATION)
    return flag_offline(snapshot, request, usage or {}, at, max_cache_lifetime=LIFETIME)


def test_compliant_offline_transaction_is_accepted_unflagged() -> None:
    decision = _offline(make_snapshot(), NOW - timedelta(hours=3))
    assert decision.accepted
    assert decision.flagged is None


def test_offline_transaction_breaking_a_rule_is_accepted_and_flagged() -> None:
    """Out of hours while offline: recorded, never refused, flagged with the rule broken."""
    snapshot = make_snapshot(
        policies={org_scope(): Policy(hours=WeeklySchedule.every_day(time(8), time(12)))}
    )
    occurred = NOW - timedelta(hours=1)
    decision = _offline(snapshot, occurred)
    assert decision.accepted
    assert decision.ocpp16_status() == decision.ocpp201_status() == "Accepted"
    assert decision.flagged is not None and decision.flagged.rule == Rule.POLICY_HOURS
    assert decision.reason.rule == Rule.OFFLINE
    assert decision.expires_at == occurred  # nothing for a charger to cache
    assert decision.member_id == MEMBER_ID


def test_offline_transaction_over_a_cap_is_counted_anyway() -> None:
    snapshot = make_snapshot(
        policies={org_scope(): Policy(session_caps=(PeriodCap(1, Period.day()),))}
    )
    usage = start_session(EMPTY_USAGE, session_start("earlier"), PARIS)
    decision = _offline(snapshot, NOW, {MEMBER_ID: usage})
    assert decision.accepted
    assert decision.flagged is not None and decision.flagged.rule == Rule.CAP_SESSIONS
    counted = start_session(usage, session_start("offline", flagged=decision.flagged), PARIS)
    assert counted.days[NOW.date().toordinal()].sessions == 2
    assert counted.running["offline"].flagged == decision.flagged


def test_offline_transaction_of_an_unknown_token_is_flagged() -> None:
    request = AuthRequest("deadbeef", STATION)
    decision = flag_offline(make_snapshot(), request, {}, NOW, max_cache_lifetime=LIFETIME)
    assert decision.accepted
    assert decision.flagged is not None and decision.flagged.rule == Rule.TOKEN_KNOWN
