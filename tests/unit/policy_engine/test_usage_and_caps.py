"""Usage counters, reservation at start, settlement at stop, caps at the limit."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from gateway.policy_engine import (
    EMPTY_USAGE,
    AuthStatus,
    DayTotals,
    EffectivePolicy,
    MemberUsage,
    Period,
    PeriodCap,
    Policy,
    Refusal,
    Rule,
    Tariff,
    period_totals,
    prune,
    reserve,
    reserve_start,
    settle,
    start_session,
    update_meter,
)

from .builders import (
    MEMBER_ID,
    NOW,
    PARIS,
    ask,
    make_snapshot,
    org_scope,
    session_start,
    settled_usage,
)

TODAY = NOW.astimezone(PARIS).date()
WEEK = Period.week()


def _reserve_all(
    usage: MemberUsage, policy: EffectivePolicy, count: int
) -> tuple[MemberUsage, list[bool]]:
    """Apply `count` racing starts one after the other, as the cache serialises them."""
    wins = []
    for i in range(count):
        outcome = reserve(usage, session_start(f"race-{i}"), policy, PARIS)
        wins.append(not isinstance(outcome, Refusal))
        if not isinstance(outcome, Refusal):
            usage = outcome
    return usage, wins


# ---- counters ------------------------------------------------------------------------


def test_start_meter_settle_lifecycle() -> None:
    """A start counts a session; meter values price it; settlement moves it into its day."""
    usage = start_session(EMPTY_USAGE, session_start(tariff=Tariff(Decimal("30"), 50)), PARIS)
    assert period_totals(usage, TODAY, TODAY + timedelta(days=1)).sessions == 1
    usage = update_meter(usage, "tx-1", 10_000)
    assert usage.running["tx-1"].cost == 350  # 10 kWh x 30 c + 50 c fee
    usage = settle(usage, "tx-1", 12_000)
    assert not usage.running
    assert usage.days[TODAY.toordinal()] == DayTotals(amount=410, energy_wh=12_000, sessions=1)


def test_session_counts_in_the_day_it_started() -> None:
    """A session started at 23:50 and settled after midnight stays in its start day."""
    late = datetime(2024, 6, 12, 23, 50, tzinfo=PARIS)
    usage = settle(
        update_meter(
            start_session(EMPTY_USAGE, session_start(started_at=late), PARIS), "tx-1", 4000
        ),
        "tx-1",
    )
    assert set(usage.days) == {TODAY.toordinal()}


def test_duplicates_are_harmless() -> None:
    usage = start_session(EMPTY_USAGE, session_start(), PARIS)
    assert start_session(usage, session_start(), PARIS) is usage
    assert update_meter(usage, "tx-unknown", 5) is usage
    assert settle(usage, "tx-unknown") is usage
    policy = EffectivePolicy(session_caps=(PeriodCap(1, WEEK),))
    assert reserve(usage, session_start(), policy, PARIS) is usage


def test_prune_drops_only_older_days() -> None:
    usage = MemberUsage(
        days={TODAY.toordinal() - 40: DayTotals(1), TODAY.toordinal(): DayTotals(2)}
    )
    assert set(prune(usage, TODAY - timedelta(days=31)).days) == {TODAY.toordinal()}
    assert prune(usage, TODAY - timedelta(days=60)) is usage


def test_rounding_is_applied_once_on_total_energy() -> None:
    tariff = Tariff(Decimal("0.3"))
    usage = start_session(EMPTY_USAGE, session_start(tariff=tariff), PARIS)
    for wh in range(0, 5001, 1):
        usage = update_meter(usage, "tx-1", wh) if wh % 1000 == 0 else usage
    assert usage.running["tx-1"].cost == 2  # 5 kWh x 0.3 c = 1.5 c, rounded half up


# ---- reservation races -----------------------------------------------------------


@given(st.integers(1, 5), st.integers(0, 4), st.integers(2, 6))
def test_racing_starts_for_the_last_sessions(limit: int, used_offset: int, racers: int) -> None:
    """With k sessions left in the period, exactly k of the racing starts win, the first ones."""
    used = max(limit - 1 - used_offset, 0)
    usage = MemberUsage(days={TODAY.toordinal(): DayTotals(sessions=used)})
    policy = EffectivePolicy(session_caps=(PeriodCap(limit, WEEK),))
    _, wins = _reserve_all(usage, policy, racers)
    left = limit - used
    assert wins == [True] * min(left, racers) + [False] * max(racers - left, 0)


@given(st.integers(1, 10_000), st.integers(1, 10_000))
def test_two_starts_for_the_last_euro_exactly_one_wins(limit: int, remaining: int) -> None:
    """Default hold = all that remains: the second start finds no credit."""
    remaining = min(remaining, limit)
    usage = MemberUsage(days={TODAY.toordinal(): DayTotals(amount=limit - remaining)})
    policy = EffectivePolicy(amount_caps=(PeriodCap(limit, Period.month()),))
    final, wins = _reserve_all(usage, policy, 2)
    assert wins == [True, False]
    assert final.running["race-0"].amount_hold == remaining
    refusal = reserve(final, session_start("late"), policy, PARIS)
    assert isinstance(refusal, Refusal)
    assert refusal.status is AuthStatus.NO_CREDIT


@given(st.integers(1, 4))
def test_racing_starts_for_the_last_concurrency_slot(max_concurrent: int) -> None:
    usage = MemberUsage()
    for i in range(max_concurrent - 1):
        usage = start_session(usage, session_start(f"running-{i}"), PARIS)
    _, wins = _reserve_all(usage, EffectivePolicy(max_concurrent=max_concurrent), 2)
    assert wins == [True, False]


def test_explicit_hold_lets_concurrent_sessions_share_the_credit() -> None:
    policy = EffectivePolicy(amount_caps=(PeriodCap(1000, WEEK, hold=300),))
    _, wins = _reserve_all(EMPTY_USAGE, policy, 5)
    assert wins == [True, True, True, True, False]  # 300 + 300 + 300 + 100


def test_hold_is_the_smallest_over_several_caps() -> None:
    usage = MemberUsage(days={TODAY.toordinal(): DayTotals(amount=150)})
    policy = EffectivePolicy(
        amount_caps=(PeriodCap(200, Period.day()), PeriodCap(10_000, Period.month()))
    )
    reserved = reserve(usage, session_start(), policy, PARIS)
    assert isinstance(reserved, MemberUsage)
    assert reserved.running["tx-1"].amount_hold == 50


def test_hold_is_released_at_settlement() -> None:
    policy = EffectivePolicy(amount_caps=(PeriodCap(1000, WEEK),))
    usage = reserve(EMPTY_USAGE, session_start(), policy, PARIS)
    assert isinstance(usage, MemberUsage)
    week = (TODAY - timedelta(days=TODAY.weekday()), TODAY + timedelta(days=7 - TODAY.weekday()))
    assert period_totals(usage, *week).amount_committed == 1000
    usage = settle(update_meter(usage, "tx-1", 8000), "tx-1")
    assert period_totals(usage, *week).amount_committed == 200


def test_reserve_start_uses_the_members_policy_from_the_snapshot() -> None:
    snapshot = make_snapshot(policies={org_scope(): Policy(max_concurrent=1)})
    first = reserve_start(snapshot, EMPTY_USAGE, session_start("a"))
    assert isinstance(first, MemberUsage)
    second = reserve_start(snapshot, first, session_start("b"))
    assert isinstance(second, Refusal)
    assert second.reason.rule == Rule.CAP_CONCURRENT
    assert isinstance(reserve_start(snapshot, EMPTY_USAGE, session_start(member_id=99)), Refusal)


# ---- caps exactly at the limit ------------------------------------------------------


@given(st.integers(1, 100_000), st.integers(0, 200_000))
def test_amount_cap_refuses_exactly_from_the_limit(limit: int, spent: int) -> None:
    snapshot = make_snapshot(policies={org_scope(): Policy(amount_caps=(PeriodCap(limit, WEEK),))})
    decision = ask(snapshot, usage=settled_usage(amount=spent))
    assert decision.accepted == (spent < limit)
    if not decision.accepted:
        assert decision.status is AuthStatus.NO_CREDIT


@given(st.integers(1, 100_000), st.integers(0, 200_000))
def test_energy_cap_refuses_exactly_from_the_limit(limit: int, energy: int) -> None:
    snapshot = make_snapshot(policies={org_scope(): Policy(energy_caps=(PeriodCap(limit, WEEK),))})
    assert ask(snapshot, usage=settled_usage(energy_wh=energy)).accepted == (energy < limit)


@given(st.integers(0, 10), st.integers(0, 12))
def test_session_cap_refuses_exactly_from_the_limit(limit: int, started: int) -> None:
    snapshot = make_snapshot(policies={org_scope(): Policy(session_caps=(PeriodCap(limit, WEEK),))})
    assert ask(snapshot, usage=settled_usage(sessions=started)).accepted == (started < limit)


def test_running_hold_counts_at_admission() -> None:
    """A running session's hold is committed: nothing is left for an Authorize."""
    snapshot = make_snapshot(policies={org_scope(): Policy(amount_caps=(PeriodCap(500, WEEK),))})
    reserved = reserve_start(snapshot, EMPTY_USAGE, session_start())
    assert isinstance(reserved, MemberUsage)
    decision = ask(snapshot, usage={MEMBER_ID: reserved})
    assert decision.status is AuthStatus.NO_CREDIT
    assert decision.reason.value == "500 minor units committed"


def test_usage_outside_the_period_does_not_count() -> None:
    """Last week's sessions do not fill this week's cap; they do fill a rolling 30 days."""
    last_week = NOW - timedelta(days=7)
    usage = settled_usage(sessions=3, on=last_week)
    weekly = make_snapshot(policies={org_scope(): Policy(session_caps=(PeriodCap(3, WEEK),))})
    rolling = make_snapshot(
        policies={org_scope(): Policy(session_caps=(PeriodCap(3, Period.rolling(30)),))}
    )
    assert ask(weekly, usage=usage).accepted
    assert not ask(rolling, usage=usage).accepted
