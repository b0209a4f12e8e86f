"""`PolicyCache.meter` (the hot path: one call per meter value) against the engine.

The cache keeps a per-session headroom instead of summing the cap periods at
every value, and builds the new usage directly; whatever the sequence of
meter values, other starts, stops and snapshot swaps, the usage must be what
``update_meter`` makes of it, the verdict's action and status those of
``recheck_running`` (the verdict itself when the session must end), and no
usage the cache handed out before may change.
"""

from __future__ import annotations

import copy
import sys
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.policy_cache.cache import PolicyCache
from gateway.policy_engine import (
    EMPTY_USAGE,
    Action,
    DayTotals,
    EnforcementMode,
    MemberStatus,
    MemberUsage,
    Period,
    PeriodCap,
    Policy,
    Snapshot,
    Tariff,
    TokenStatus,
    recheck_running,
    settle,
    start_session,
    update_meter,
)

from .policy_engine.builders import (
    MEMBER_ID,
    NOW,
    PARIS,
    make_member,
    make_snapshot,
    make_token,
    org_scope,
    session_start,
)

PERIODS = [Period.day(), Period.week(), Period.month(), Period.rolling(3)]
SESSIONS = ["101", "102", "103"]


@dataclass(frozen=True)
class World:
    policy: Policy
    tariff: Tariff
    enforcement: EnforcementMode

    def snapshot(self, variant: int = 0) -> Snapshot:
        """0: as drawn; 1: the token blocked; 2: the member inactive; 3: no caps."""
        policies = {org_scope(): self.policy if variant != 3 else Policy()}
        token = make_token(status=TokenStatus.BLOCKED) if variant == 1 else None
        member = make_member(status=MemberStatus.INACTIVE) if variant == 2 else None
        return make_snapshot(
            policies=policies,
            token=token,
            member=member,
            tariff=self.tariff,
            enforcement=self.enforcement,
        )


caps = st.lists(
    st.builds(PeriodCap, st.integers(0, 3000), st.sampled_from(PERIODS)), max_size=2
).map(tuple)
worlds = st.builds(
    World,
    st.builds(Policy, amount_caps=caps, energy_caps=caps),
    st.builds(
        Tariff, st.sampled_from([Decimal(0), Decimal("25"), Decimal("31.7")]), st.integers(0, 60)
    ),
    st.sampled_from(list(EnforcementMode)),
)
steps = st.lists(
    st.one_of(
        st.tuples(
            st.just("meter"),
            st.sampled_from([*SESSIONS, "404"]),
            st.integers(-100, 12_000),
        ),
        st.tuples(st.just("start"), st.sampled_from(SESSIONS), st.integers(0, 2)),
        st.tuples(st.just("stop"), st.sampled_from(SESSIONS), st.none() | st.integers(0, 9000)),
        st.tuples(st.just("swap"), st.just(""), st.integers(0, 3)),
        st.tuples(st.just("settled"), st.just(""), st.integers(0, 4000)),
    ),
    max_size=40,
)


def _start(usage: MemberUsage, session_id: str, days_ago: int) -> MemberUsage:
    start = session_start(session_id, NOW - timedelta(days=days_ago))
    return start_session(usage, start, PARIS, amount_hold=500, energy_hold=1000)


@settings(max_examples=300, deadline=None)
@given(worlds, steps)
def test_meter_values_update_and_judge_as_the_engine_does(
    world: World, script: list[tuple[str, str, int | None]]
) -> None:
    cache = PolicyCache(timedelta(hours=1))
    snapshot = world.snapshot()
    cache.load(snapshot, {MEMBER_ID: _start(EMPTY_USAGE, "101", 0)})
    handed_out: list[tuple[MemberUsage, MemberUsage]] = []
    for i, (kind, session_id, value) in enumerate(script):
        now = NOW + timedelta(minutes=i)
        usage = cache.usage.get(MEMBER_ID, EMPTY_USAGE)
        handed_out.append((usage, copy.deepcopy(usage)))
        if kind == "meter":
            assert value is not None
            verdict = cache.meter(MEMBER_ID, session_id, value, now)
            expected_usage = update_meter(usage, session_id, value)
            expected = recheck_running(snapshot, expected_usage, session_id, now)
            assert cache.usage.get(MEMBER_ID, EMPTY_USAGE) == expected_usage
            assert (verdict.action, verdict.status) == (expected.action, expected.status)
            if expected.action is not Action.CONTINUE:
                assert verdict == expected
        elif kind == "start":  # another start of the member (the cache's usage moves on)
            assert value is not None
            cache.usage[MEMBER_ID] = _start(usage, session_id, value)
        elif kind == "stop":
            cache.stop(MEMBER_ID, session_id, value)
            assert cache.usage[MEMBER_ID] == settle(usage, session_id, value)
        elif kind == "swap":
            assert value is not None
            snapshot = world.snapshot(value)
            cache.apply_patch(snapshot)
        else:  # a rebuild at start: new usage objects, equal or not
            assert value is not None
            day = NOW.astimezone(PARIS).date().toordinal() - 1
            days = {**usage.days, day: DayTotals(value, value, 1)}
            cache.load(snapshot, {MEMBER_ID: MemberUsage(days, usage.running)})
    for held, as_it_was in handed_out:
        assert held == as_it_was  # nothing handed out was changed in place


@pytest.mark.parametrize(
    "policy",
    [
        Policy(energy_caps=(PeriodCap(1000, Period.day()),)),
        Policy(amount_caps=(PeriodCap(25, Period.month()),)),  # 1000 Wh at 25 cents a kWh
    ],
)
def test_a_session_reaching_its_cap_gets_the_engines_stop_verdict(policy: Policy) -> None:
    world = World(policy, Tariff(Decimal("25")), EnforcementMode.ENFORCE)
    snapshot = world.snapshot()
    cache = PolicyCache(timedelta(hours=1))
    cache.load(snapshot, {MEMBER_ID: _start(EMPTY_USAGE, "101", 0)})
    assert cache.meter(MEMBER_ID, "101", 979, NOW).action is Action.CONTINUE
    verdict = cache.meter(MEMBER_ID, "101", 1000, NOW)  # reached: used >= limit
    assert verdict.stop
    assert verdict == recheck_running(snapshot, cache.usage[MEMBER_ID], "101", NOW)
    # a policy change (a patch) is seen at the next value: no cap any more
    cache.apply_patch(world.snapshot(3))
    assert cache.meter(MEMBER_ID, "101", 1200, NOW).action is Action.CONTINUE


def test_the_same_energy_again_keeps_the_usage_as_it_is() -> None:
    cache = PolicyCache(timedelta(hours=1))
    cache.load(make_snapshot(), {MEMBER_ID: _start(EMPTY_USAGE, "101", 0)})
    cache.meter(MEMBER_ID, "101", 700, NOW)
    usage = cache.usage[MEMBER_ID]
    cache.meter(MEMBER_ID, "101", 700, NOW)
    assert cache.usage[MEMBER_ID] is usage


def test_a_replaced_snapshot_is_not_kept_alive_by_a_running_session() -> None:
    cache = PolicyCache(timedelta(hours=1))
    old = make_snapshot(policies={org_scope(): Policy(amount_caps=(PeriodCap(900, PERIODS[0]),))})
    alone = sys.getrefcount(old)
    cache.load(old, {MEMBER_ID: _start(EMPTY_USAGE, "101", 0)})
    cache.meter(MEMBER_ID, "101", 100, NOW)
    cache.apply_patch(make_snapshot())
    assert sys.getrefcount(old) == alone  # `_release` can free it slice by slice
