"""The role and permission rules (pure): who may grant which role, act on whom, give which
permission override, and edit which of their own fields. Hypothesis checks the rules over
every combination of roles held."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gateway.members.grants import (
    SELF_EDITABLE,
    changed_overrides,
    not_self_editable,
    refused_overrides,
    refused_roles,
)
from gateway.members.roles import RANK, Permission, Role, may_act_on, may_grant, permissions

roles = st.sampled_from(list(Role))
role_sets = st.frozensets(roles, min_size=1)
overrides = st.dictionaries(st.sampled_from(list(Permission)), st.booleans())


@given(role_sets)
def test_owner_is_never_granted_whatever_roles_are_held(held: frozenset[Role]) -> None:
    assert not may_grant(held, Role.OWNER)
    assert refused_roles(held, [Role.OWNER]) == [Role.OWNER]


@given(role_sets, roles)
def test_a_role_is_grantable_exactly_when_at_or_below_the_highest_held(
    held: frozenset[Role], role: Role
) -> None:
    highest = max(RANK[r] for r in held)
    expected = role is not Role.OWNER and RANK[role] <= highest
    assert may_grant(held, role) is expected


@given(role_sets)
def test_a_member_holding_several_roles_may_grant_any_of_them_but_owner(
    held: frozenset[Role],
) -> None:
    assert refused_roles(held, held - {Role.OWNER}) == []


def test_each_role_grants_what_the_product_says() -> None:
    grantable = {
        Role.OWNER: {Role.ADMINISTRATOR, Role.MANAGER, Role.USER},
        Role.ADMINISTRATOR: {Role.ADMINISTRATOR, Role.MANAGER, Role.USER},
        Role.MANAGER: {Role.MANAGER, Role.USER},
        Role.USER: {Role.USER},
    }
    for actor, expected in grantable.items():
        assert {r for r in Role if may_grant({actor}, r)} == expected, actor
    # A User who is also an Administrator grants as an Administrator.
    assert may_grant({Role.USER, Role.ADMINISTRATOR}, Role.ADMINISTRATOR)


@given(role_sets, role_sets)
def test_acting_on_a_member_needs_a_strictly_higher_rank(
    actor: frozenset[Role], target: frozenset[Role]
) -> None:
    assert may_act_on(actor, target) is (max(RANK[r] for r in actor) > max(RANK[r] for r in target))
    assert not may_act_on(actor, actor)  # equal rank: never (so nobody deletes themselves)


@given(st.sampled_from([Role.OWNER, Role.ADMINISTRATOR]), role_sets, overrides)
def test_owners_and_administrators_hold_everything_whatever_their_overrides(
    role: Role, others: frozenset[Role], given_overrides: dict[Permission, bool]
) -> None:
    assert permissions({role, *others}, given_overrides) == frozenset(Permission)


@given(overrides)
def test_a_users_permissions_are_exactly_their_positive_overrides(
    given_overrides: dict[Permission, bool],
) -> None:
    held = permissions({Role.USER}, given_overrides)
    assert held == {p for p, on in given_overrides.items() if on}


@given(st.frozensets(st.sampled_from(list(Permission))), overrides, overrides)
def test_only_overrides_on_held_permissions_may_change(
    held: frozenset[Permission],
    before: dict[Permission, bool],
    after: dict[Permission, bool],
) -> None:
    refused = refused_overrides(held, before, after)
    changed = changed_overrides(before, after)
    assert set(refused) == changed - held
    assert set(refused) <= changed
    # Leaving the overrides as they are is always allowed, whatever is held.
    assert refused_overrides(frozenset(), before, dict(before)) == []


def test_a_manager_may_give_statistics_but_not_prices() -> None:
    manager = permissions({Role.MANAGER}, {Permission.MEMBERS: True})
    assert refused_overrides(manager, {}, {Permission.STATISTICS: True}) == []
    assert refused_overrides(manager, {}, {Permission.PRICES: True}) == [Permission.PRICES]
    # Removing an override is a change too.
    assert refused_overrides(manager, {Permission.PRICES: True}, {}) == [Permission.PRICES]


@given(st.frozensets(st.sampled_from(sorted(SELF_EDITABLE | {"role", "groups", "policy"}))))
def test_own_record_name_email_phone_only(fields: frozenset[str]) -> None:
    assert set(not_self_editable(fields)) == fields - SELF_EDITABLE
    assert not_self_editable(["first_name", "last_name", "email", "phone"]) == []
    assert not_self_editable(["phone", "role"]) == ["role"]
