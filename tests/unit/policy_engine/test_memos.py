"""The hot path's memos and shortcuts: shared effective policies, remembered
hours, checks recorded on demand, caps checked without recording them.

A memo or a shortcut may make an answer faster, never different: each
property compares its answer with the one computed afresh or in full.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta, tzinfo

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.policy_engine import (
    ALL_STATIONS,
    EMPTY_USAGE,
    AuthRequest,
    DayTotals,
    EffectivePolicy,
    MemberInfo,
    MemberUsage,
    OrganisationInfo,
    Period,
    PeriodCap,
    Policy,
    PolicyScope,
    Reason,
    Snapshot,
    StationInfo,
    StationScope,
    TokenInfo,
    TokenType,
    Validity,
    WeeklySchedule,
    admits_unused,
    check_limits,
    check_running_caps,
    decide,
    explain,
    policy_key,
    resolve_policy,
    window_status,
)
from gateway.policy_engine.combine import _resolve

from .builders import (
    LIFETIME,
    MEMBER_ID,
    NOW,
    ORG_ID,
    OTHER_ORG_ID,
    PARIS,
    TARIFF,
    group_scope,
    make_member,
    make_snapshot,
    member_scope,
    org_scope,
    settled_usage,
)
from .strategies import dst_instants, dst_zones, instants, schedules

OFFICE = WeeklySchedule.every_day(time(8), time(18))
NIGHT = WeeklySchedule.every_day(time(22), time(6))
DAY_CAP = (PeriodCap(1000, Period.day()),)
ORGS = [
    OrganisationInfo(ORG_ID, "Org", PARIS, "EUR", TARIFF, group_token="G1"),
    OrganisationInfo(OTHER_ORG_ID, "Other", PARIS, "EUR", TARIFF, group_token="G2"),
]
STATIONS = [
    StationInfo("CP-1", ORG_ID, site_id=10),
    StationInfo("CP-2", ORG_ID, site_id=11),
    StationInfo("CP-X", OTHER_ORG_ID),
]


def _snapshot(members: list[MemberInfo], policies: dict[PolicyScope, Policy]) -> Snapshot:
    tokens = [TokenInfo(f"T{m.id}", TokenType.ISO14443, m.id) for m in members]
    return Snapshot.build(
        organisations=ORGS, stations=STATIONS, members=members, tokens=tokens, policies=policies
    )


# ---- effective policies, one per key -------------------------------------------------


def test_members_in_the_same_groups_share_one_effective_policy() -> None:
    policies = {org_scope(): Policy(hours=NIGHT), group_scope(1): Policy(amount_caps=DAY_CAP)}
    ada, bob = make_member(id=7, groups=frozenset({1})), make_member(id=8, groups=frozenset({1}))
    snapshot = _snapshot([ada, bob], policies)
    assert resolve_policy(snapshot, ada) is resolve_policy(snapshot, bob)
    assert len({id(policy) for policy in snapshot.policy_memo.values()}) == 1


def test_groups_without_a_policy_do_not_split_the_memo() -> None:
    policies = {group_scope(1): Policy(amount_caps=DAY_CAP)}
    ada, bob = make_member(id=7, groups=frozenset({1})), make_member(id=8, groups=frozenset({1, 3}))
    snapshot = _snapshot([ada, bob], policies)
    assert policy_key(snapshot, ada) == policy_key(snapshot, bob)
    assert resolve_policy(snapshot, ada) is resolve_policy(snapshot, bob)


def test_a_member_with_a_policy_of_its_own_does_not_share() -> None:
    policies = {group_scope(1): Policy(hours=OFFICE), member_scope(8): Policy(hours=NIGHT)}
    ada, bob = make_member(id=7, groups=frozenset({1})), make_member(id=8, groups=frozenset({1}))
    snapshot = _snapshot([ada, bob], policies)
    own = resolve_policy(snapshot, bob)
    assert own is not resolve_policy(snapshot, ada)
    assert own.hours == (NIGHT,) and own.source("hours") == "member:8"
    assert resolve_policy(snapshot, ada).hours == (OFFICE,)


def test_members_of_two_organisations_do_not_share() -> None:
    policies = {org_scope(ORG_ID): Policy(hours=OFFICE), org_scope(OTHER_ORG_ID): Policy()}
    ada = make_member(id=7, groups=frozenset({1}))
    eve = make_member(id=8, org_id=OTHER_ORG_ID, groups=frozenset({1}))
    snapshot = _snapshot([ada, eve], policies)
    assert resolve_policy(snapshot, ada).hours == (OFFICE,)
    assert resolve_policy(snapshot, eve).hours == ()


def test_members_with_a_policy_of_their_own_are_resolved_when_the_snapshot_is_built() -> None:
    """Each has a key of its own: left to the first request, each would resolve from scratch."""
    members = [make_member(id=i, groups=frozenset({1})) for i in range(1, 6)]
    policies = {member_scope(2): Policy(hours=NIGHT), member_scope(4): Policy(hours=OFFICE)}
    snapshot = _snapshot(members, policies)
    assert set(snapshot.own_policies) == {2, 4}
    assert snapshot.own_policies[2] == _resolve(snapshot, members[1])
    assert not snapshot.policy_memo


# ---- properties: memoised == computed afresh -------------------------------------------

optional_policies = st.one_of(
    st.none(),
    st.builds(
        Policy,
        stations=st.sampled_from([None, ALL_STATIONS, StationScope(sites=frozenset({10})), None]),
        hours=st.sampled_from([None, OFFICE, NIGHT]),
        amount_caps=st.sampled_from([None, (), DAY_CAP, (PeriodCap(0, Period.week()),)]),
        session_caps=st.sampled_from([None, (PeriodCap(1, Period.month()),)]),
        max_concurrent=st.sampled_from([None, 0, 1]),
        validity=st.sampled_from([None, Validity(valid_until=NOW + timedelta(hours=3))]),
    ),
)
groups = st.frozensets(st.integers(1, 4), max_size=3)
members = st.lists(
    st.tuples(st.sampled_from([ORG_ID, OTHER_ORG_ID]), groups), min_size=1, max_size=8
).map(
    lambda specs: [
        make_member(id=i, org_id=org, groups=g) for i, (org, g) in enumerate(specs, start=1)
    ]
)


@st.composite
def policy_sets(draw: st.DrawFn, people: list[MemberInfo]) -> dict[PolicyScope, Policy]:
    scopes = [org_scope(ORG_ID), org_scope(OTHER_ORG_ID)]
    scopes += [group_scope(g) for g in range(1, 5)]
    scopes += [member_scope(m.id) for m in people]
    found = {}
    for scope in scopes:
        policy = draw(optional_policies)
        if policy is not None:
            found[scope] = policy
    return found


@settings(max_examples=150)
@given(st.data(), members)
def test_a_memoised_effective_policy_equals_one_resolved_afresh(
    data: st.DataObject, people: list[MemberInfo]
) -> None:
    """Whatever the members, groups and policies, and in whatever order members come."""
    snapshot = _snapshot(people, data.draw(policy_sets(people)))
    for member in data.draw(st.permutations(people)):
        memoised = resolve_policy(snapshot, member)
        fresh = _resolve(snapshot, member)
        assert memoised == fresh
        assert (memoised.labels, memoised.cap_labels) == (fresh.labels, fresh.cap_labels)


@settings(max_examples=100)
@given(st.data(), members, st.integers(0, 2000))
def test_decisions_from_a_shared_snapshot_equal_those_from_a_snapshot_of_one_member(
    data: st.DataObject, people: list[MemberInfo], spent: int
) -> None:
    """No decision depends on which members were decided before (the memo's sharing)."""
    policies = data.draw(policy_sets(people))
    shared = _snapshot(people, policies)
    for member in data.draw(st.permutations(people)):
        alone = _snapshot([member], policies)
        usage = {member.id: settled_usage(amount=spent, sessions=1)[MEMBER_ID]}
        for station in ("CP-1", "CP-2", "CP-X"):
            request = AuthRequest(f"T{member.id}", station)
            assert decide(shared, request, usage, NOW, max_cache_lifetime=LIFETIME) == decide(
                alone, request, usage, NOW, max_cache_lifetime=LIFETIME
            )


# ---- allowed hours: the last status found ----------------------------------------------


@settings(max_examples=300)
@given(
    schedules,
    dst_zones,
    st.one_of(instants, dst_instants),
    st.lists(
        st.tuples(
            st.integers(-6 * 60, 3 * 24 * 60).map(lambda m: timedelta(minutes=m)),
            st.one_of(st.none(), st.integers(1, 9 * 24 * 60).map(lambda m: timedelta(minutes=m))),
            st.booleans(),
        ),
        min_size=1,
        max_size=12,
    ),
)
def test_a_remembered_window_status_equals_one_found_afresh(
    schedule: WeeklySchedule,
    tz: tzinfo,
    start: datetime,
    steps: list[tuple[timedelta, timedelta | None, bool]],
) -> None:
    """One schedule asked many times (mostly forward in time, sometimes back, with any
    horizon, across DST changes, in UTC or local time) answers as a fresh copy of it."""
    now = start
    for step, horizon, local in steps:
        now += step
        asked = now.astimezone(tz) if local else now
        limit = None if horizon is None else now + horizon
        remembered = window_status(schedule, asked, tz, horizon=limit)
        fresh = window_status(WeeklySchedule(schedule.windows), asked, tz, horizon=limit)
        assert remembered == fresh


def test_a_status_remembered_in_a_dst_overlap_is_not_reused_in_the_other_pass() -> None:
    """02:10 comes twice on the autumn night: the first pass is before the window opens."""
    early = WeeklySchedule.every_day(time(2, 30), time(4))
    second = datetime(2024, 10, 27, 2, 10, tzinfo=PARIS, fold=1)
    assert window_status(early, second, PARIS).inside
    assert not window_status(early, second.replace(fold=0), PARIS).inside


# ---- checks on demand ---------------------------------------------------------------


def test_checks_are_recorded_only_when_explaining() -> None:
    snapshot = make_snapshot(policies={org_scope(): Policy(amount_caps=DAY_CAP)})
    request = AuthRequest("04A1B2C3", "CP-1")
    usage = settled_usage(amount=1000)
    fast = decide(snapshot, request, usage, NOW, max_cache_lifetime=LIFETIME)
    explained = decide(snapshot, request, usage, NOW, max_cache_lifetime=LIFETIME, explain=True)
    assert fast.checks == () and len(explained.checks) == 11
    assert fast == explained._replace(checks=())
    assert "checks: not recorded" in explain(fast)
    assert "[FAIL] cap.amount" in explain(explained)


caps = st.lists(st.builds(PeriodCap, st.integers(0, 2), st.just(Period.day())), max_size=2)


@given(caps, caps, caps, st.sampled_from([None, 0, 1]), st.booleans())
def test_the_shortcut_for_unused_members_agrees_with_check_limits(
    amount: list[PeriodCap],
    energy: list[PeriodCap],
    sessions: list[PeriodCap],
    concurrent: int | None,
    used: bool,
) -> None:
    """`admits_unused` (decide skips the caps with it) is True only when they all admit."""
    policy = EffectivePolicy(
        amount_caps=tuple(amount),
        energy_caps=tuple(energy),
        session_caps=tuple(sessions),
        max_concurrent=concurrent,
    )
    usage = settled_usage(amount=1, sessions=1)[MEMBER_ID] if used else EMPTY_USAGE
    if admits_unused(usage, policy):
        assert check_limits(usage, policy, NOW.date()) is None
    else:
        assert used or check_limits(usage, policy, NOW.date()) is not None


periods = st.sampled_from([Period.day(), Period.week(), Period.month(), Period.rolling(7)])
any_caps = st.lists(st.builds(PeriodCap, st.integers(0, 3000), periods), max_size=3).map(tuple)
usages = st.dictionaries(
    st.integers(-40, 0).map(lambda d: NOW.date().toordinal() + d),
    st.builds(DayTotals, st.integers(0, 1500), st.integers(0, 1500), st.integers(0, 3)),
    max_size=4,
).map(lambda days: MemberUsage(days=days))


@settings(max_examples=300)
@given(any_caps, any_caps, any_caps, st.sampled_from([None, 0, 1, 2]), usages)
def test_caps_checked_without_recording_find_the_breach_recorded_checks_find(
    amount: tuple[PeriodCap, ...],
    energy: tuple[PeriodCap, ...],
    sessions: tuple[PeriodCap, ...],
    concurrent: int | None,
    usage: MemberUsage,
) -> None:
    policy = EffectivePolicy(
        amount_caps=amount, energy_caps=energy, session_caps=sessions, max_concurrent=concurrent
    )
    today = NOW.date()
    recorded: list[Reason] = []
    assert check_limits(usage, policy, today) == check_limits(usage, policy, today, recorded)
    assert recorded and all(r.passed for r in recorded[:-1])
    assert check_running_caps(usage, policy, today) == check_running_caps(usage, policy, today, [])
