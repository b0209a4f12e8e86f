"""How organisation, group and member policies combine.

Per rule, the most specific scope that sets it wins (member > groups >
organisation > no restriction); several groups setting a rule all apply.
"""

from __future__ import annotations

from datetime import time, timedelta

from hypothesis import given
from hypothesis import strategies as st

from gateway.policy_engine import (
    ALL_STATIONS,
    Period,
    PeriodCap,
    Policy,
    PolicyScope,
    Rule,
    Snapshot,
    StationScope,
    Validity,
    WeeklySchedule,
    resolve_policy,
)

from .builders import (
    NOW,
    ask,
    group_scope,
    make_member,
    make_snapshot,
    member_scope,
    org_scope,
    settled_usage,
)

OFFICE = WeeklySchedule.every_day(time(8), time(18))
NIGHT = WeeklySchedule.every_day(time(22), time(6))
DAY_CAP = (PeriodCap(1000, Period.day()),)


def _snapshot(
    policies: dict[PolicyScope, Policy], groups: frozenset[int] = frozenset({1, 2})
) -> Snapshot:
    return make_snapshot(policies=policies, member=make_member(groups=groups))


def test_member_policy_overrides_one_rule_and_inherits_the_others() -> None:
    """A member allowed at night keeps the organisation's cap."""
    snapshot = _snapshot(
        {
            org_scope(): Policy(hours=NIGHT, amount_caps=DAY_CAP),
            member_scope(): Policy(hours=OFFICE),
        }
    )
    assert ask(snapshot).accepted  # 14:00, office hours
    decision = ask(snapshot, usage=settled_usage(amount=1000))
    assert decision.reason.rule == Rule.CAP_AMOUNT
    assert "organisation:1" in (decision.reason.limit or "")


def test_member_can_lift_a_cap_with_an_empty_tuple() -> None:
    snapshot = _snapshot(
        {org_scope(): Policy(amount_caps=DAY_CAP), member_scope(): Policy(amount_caps=())}
    )
    assert ask(snapshot, usage=settled_usage(amount=5000)).accepted


def test_group_policy_overrides_the_organisation() -> None:
    snapshot = _snapshot({org_scope(): Policy(hours=NIGHT), group_scope(1): Policy(hours=OFFICE)})
    assert ask(snapshot).accepted


def test_groups_combine_strictest() -> None:
    """Two groups: stations must be allowed by both, every cap applies, lowest concurrency."""
    snapshot = _snapshot(
        {
            group_scope(1): Policy(
                stations=StationScope(sites=frozenset({10, 11})), max_concurrent=3
            ),
            group_scope(2): Policy(stations=StationScope(sites=frozenset({11}))),
        }
    )
    assert ask(snapshot).reason.rule == Rule.POLICY_STATIONS  # CP-1 is on site 10
    assert ask(snapshot, station="CP-2").accepted
    policy = resolve_policy(snapshot, make_member(groups=frozenset({1, 2})))
    assert policy.max_concurrent == 3
    assert policy.source("stations") == "group:1,2"


def test_policies_of_groups_the_member_is_not_in_do_not_apply() -> None:
    snapshot = _snapshot({group_scope(3): Policy(stations=StationScope())})
    assert ask(snapshot).accepted


def test_validity_of_several_groups_intersects() -> None:
    snapshot = _snapshot(
        {
            group_scope(1): Policy(validity=Validity(valid_until=NOW + timedelta(days=2))),
            group_scope(2): Policy(validity=Validity(valid_until=NOW + timedelta(hours=3))),
        }
    )
    decision = ask(snapshot)
    assert decision.expires_at == NOW + timedelta(hours=3)
    assert decision.reason.limit == "expiry from policy.validity"


def test_no_policy_means_no_restriction_within_the_organisation() -> None:
    policy = resolve_policy(make_snapshot(), make_member())
    assert policy.stations == () and policy.hours == () and policy.max_concurrent is None
    assert policy.source("hours") == "default"


# ---- properties ----------------------------------------------------------------------

optional_policies = st.one_of(
    st.none(),
    st.builds(
        Policy,
        stations=st.sampled_from(
            [None, ALL_STATIONS, StationScope(sites=frozenset({10})), StationScope()]
        ),
        hours=st.sampled_from([None, OFFICE, NIGHT]),
        amount_caps=st.sampled_from([None, (), DAY_CAP, (PeriodCap(0, Period.week()),)]),
        max_concurrent=st.sampled_from([None, 0, 1]),
    ),
)


def _policies(
    org: Policy | None, groups: list[Policy | None], member: Policy | None
) -> dict[PolicyScope, Policy]:
    found: dict[PolicyScope, Policy] = {}
    for scope, policy in [
        (org_scope(), org),
        *((group_scope(i), p) for i, p in enumerate(groups)),
        (member_scope(), member),
    ]:
        if policy is not None:
            found[scope] = policy
    return found


complete_policies = st.builds(
    Policy,
    stations=st.sampled_from([ALL_STATIONS, StationScope(sites=frozenset({11})), StationScope()]),
    hours=st.sampled_from([OFFICE, NIGHT]),
    amount_caps=st.sampled_from([(), DAY_CAP]),
    energy_caps=st.just(()),
    session_caps=st.sampled_from([(), (PeriodCap(1, Period.week()),)]),
    max_concurrent=st.sampled_from([0, 1]),
    validity=st.sampled_from([Validity(), Validity(valid_until=NOW)]),
)


@given(
    optional_policies,
    st.lists(optional_policies, max_size=3),
    complete_policies,
    st.integers(0, 2000),
)
def test_a_complete_member_policy_decides_alone(
    org: Policy | None, groups: list[Policy | None], member: Policy, spent: int
) -> None:
    """A member policy that sets every rule makes group and organisation policies irrelevant."""
    ids = frozenset(range(len(groups)))
    usage = settled_usage(amount=spent, sessions=1)
    mixed = ask(_snapshot(_policies(org, groups, member), ids), usage=usage)
    alone = ask(_snapshot(_policies(None, [], member), ids), usage=usage)
    assert (mixed.status, mixed.reason.rule, mixed.expires_at) == (
        alone.status,
        alone.reason.rule,
        alone.expires_at,
    )


@given(
    optional_policies,
    complete_policies,
    st.lists(optional_policies, max_size=2),
    optional_policies,
    st.integers(0, 2000),
)
def test_one_more_group_never_allows_more(
    org: Policy | None,
    first_group: Policy,
    groups: list[Policy | None],
    extra: Policy | None,
    spent: int,
) -> None:
    """Once the member's groups set the rules, joining one more group can refuse,
    never accept what was refused, nor give a later expiry."""
    ids = frozenset(range(len(groups) + 2))
    usage = settled_usage(amount=spent, sessions=1)
    before = ask(_snapshot(_policies(org, [first_group, *groups], None), ids), usage=usage)
    after = ask(_snapshot(_policies(org, [first_group, *groups, extra], None), ids), usage=usage)
    if not before.accepted:
        assert not after.accepted
    elif after.accepted:
        assert after.expires_at is not None and before.expires_at is not None
        assert after.expires_at <= before.expires_at
