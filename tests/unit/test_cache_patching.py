"""Patching a snapshot member by member (`Snapshot.patched`, `LayeredMap`).

The property that matters: whatever sequence of changes to members, their
groups, tokens and own policies is applied incrementally, the patched
snapshot holds what a snapshot built whole from the same data holds, and
decides exactly as it does, even with the memos of earlier snapshots warm.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.policy_cache.loader import member_change
from gateway.policy_engine import (
    ALL_STATIONS,
    AuthRequest,
    LayeredMap,
    MemberChange,
    MemberInfo,
    MemberStatus,
    OrganisationInfo,
    Period,
    PeriodCap,
    Policy,
    PolicyScope,
    ScopeKind,
    Snapshot,
    StationInfo,
    StationScope,
    Tariff,
    TokenInfo,
    TokenStatus,
    TokenType,
    Validity,
    WeeklySchedule,
    decide,
    normalize_token,
    resolve_policy,
)
from gateway.policy_engine.combine import effective_policy
from gateway.store.policies import MemberRows

NOW = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)
LIFETIME = timedelta(hours=12)
ORGS = [
    OrganisationInfo(1, "One", UTC, "EUR", Tariff(Decimal(25))),
    OrganisationInfo(2, "Two", UTC, "EUR", Tariff(Decimal(25))),
]
STATIONS = [
    StationInfo("CP-1", 1, site_id=10),
    StationInfo("CP-2", 1, site_id=11),
    StationInfo("CP-X", 2),
]
OFFICE = WeeklySchedule.every_day(time(8), time(18))
NIGHT = WeeklySchedule.every_day(time(20), time(6))
SHARED_POLICIES = {
    PolicyScope(ScopeKind.ORGANISATION, 1): Policy(hours=OFFICE, max_concurrent=1),
    PolicyScope(ScopeKind.GROUP, 1): Policy(stations=StationScope(sites=frozenset({10}))),
    PolicyScope(ScopeKind.GROUP, 2): Policy(amount_caps=(PeriodCap(0, Period.day()),)),
}
OWN_POLICIES = [
    Policy(hours=NIGHT),
    Policy(stations=ALL_STATIONS, hours=WeeklySchedule.every_day(time(0), time(0))),
    Policy(validity=Validity(valid_until=NOW - timedelta(days=1))),
]
VALUES = ["T1", "t2", "T3", "T4", "t5", "T6"]


@dataclass
class Db:
    """What the database holds that a member change re-reads."""

    members: dict[int, MemberInfo] = field(default_factory=dict)
    tokens: dict[str, TokenInfo] = field(default_factory=dict)  # by normalized value
    own: dict[int, Policy] = field(default_factory=dict)

    def snapshot(self) -> Snapshot:
        policies = dict(SHARED_POLICIES)
        policies.update({PolicyScope(ScopeKind.MEMBER, m): p for m, p in self.own.items()})
        return Snapshot.build(
            organisations=ORGS,
            stations=STATIONS,
            members=self.members.values(),
            tokens=self.tokens.values(),
            policies=policies,
        )

    def change(self, snapshot: Snapshot, ids: frozenset[int]) -> MemberChange:
        """What `loader.patch` reads: the members, their tokens, the tokens they held."""
        held = {normalize_token(v) for v in snapshot.token_values(ids)}
        return MemberChange(
            member_ids=ids,
            members=tuple(m for i, m in self.members.items() if i in ids),
            tokens=tuple(t for k, t in self.tokens.items() if t.member_id in ids or k in held),
            policies={m: p for m, p in self.own.items() if m in ids},
        )


# One change: (kind, member id, token index, variant); each returns the announced member ids.
changes = st.lists(
    st.tuples(
        st.sampled_from(["status", "groups", "own", "org", "validity", "add", "delete",
                         "token", "move", "move-quietly", "untoken", "block"]),
        st.integers(1, 6),
        st.integers(0, len(VALUES) - 1),
        st.integers(0, 5),
    ),
    min_size=1,
    max_size=25,
)  # fmt: skip


def apply(db: Db, kind: str, member_id: int, token: int, variant: int) -> set[int]:
    """Change `db`; the member ids whose change a caller would announce."""
    member = db.members.get(member_id)
    value = VALUES[token]
    key = normalize_token(value)
    if kind == "add" or member is None:
        if member is None:
            db.members[member_id] = MemberInfo(member_id, 1 + variant % 2, "F", "L", "e")
        return {member_id}
    if kind == "status":
        status = [MemberStatus.ACTIVE, MemberStatus.INACTIVE, MemberStatus.PENDING][variant % 3]
        db.members[member_id] = member._replace(status=status)
    elif kind == "groups":
        db.members[member_id] = member._replace(groups=frozenset(range(1, 1 + variant % 4)))
    elif kind == "own":
        if variant < len(OWN_POLICIES):
            db.own[member_id] = OWN_POLICIES[variant]
        else:
            db.own.pop(member_id, None)
    elif kind == "org":
        db.members[member_id] = member._replace(org_id=1 + variant % 2)
    elif kind == "validity":
        until = None if variant % 2 else NOW + timedelta(hours=variant - 3)
        db.members[member_id] = member._replace(valid_until=until)
    elif kind == "delete":
        del db.members[member_id]
        db.own.pop(member_id, None)
        db.tokens = {k: t for k, t in db.tokens.items() if t.member_id != member_id}
    elif kind in ("token", "move", "move-quietly"):
        old = db.tokens.get(key)
        kinds = [TokenType.ISO14443, TokenType.CENTRAL]
        expiry = None if variant % 3 else NOW + timedelta(hours=variant - 2)
        db.tokens[key] = TokenInfo(value, kinds[variant % 2], member_id, expires_at=expiry)
        if old is not None and old.member_id != member_id and kind == "move":
            return {member_id, old.member_id}
    elif kind == "untoken":
        found = db.tokens.get(key)
        if found is None:
            return {member_id}
        del db.tokens[key]
        return {found.member_id}
    elif kind == "block":
        found = db.tokens.get(key)
        if found is not None:
            db.tokens[key] = found._replace(status=TokenStatus.BLOCKED)
            return {found.member_id}
    return {member_id}


def decisions(snapshot: Snapshot) -> list[object]:
    found = []
    for value in [*VALUES, "nobody"]:
        for station in ("CP-1", "CP-2", "CP-X"):
            for at in (NOW, NOW.replace(hour=22)):
                request = AuthRequest(value.upper(), station)
                found.append(decide(snapshot, request, {}, at, max_cache_lifetime=LIFETIME))
    return found


def assert_same(patched: Snapshot, built: Snapshot) -> None:
    assert dict(patched.members) == dict(built.members)
    assert dict(patched.tokens) == dict(built.tokens)
    assert dict(patched.policies) == dict(built.policies)
    assert len(patched.members) == len(built.members)
    assert len(patched.tokens) == len(built.tokens)
    assert dict(patched.own_policies) == dict(built.own_policies)
    for token, member in patched.holders.values():  # each token with its member as it is
        assert member is patched.members[token.member_id]
    for member_id in set(patched.member_tokens) | set(built.member_tokens):
        assert set(patched.token_keys(member_id)) == set(built.token_keys(member_id))
    for member in built.members.values():
        assert resolve_policy(patched, member) == effective_policy(built.policies, member)
    assert decisions(patched) == decisions(built)


@settings(max_examples=250, deadline=None)
@given(changes)
def test_changes_patched_one_by_one_decide_as_a_snapshot_built_whole(
    steps: list[tuple[str, int, int, int]],
) -> None:
    """Each change is announced for the members a caller would name (a token moved
    "quietly" names its new member only); a change that does not fit the snapshot
    (a token moved to a member it does not know yet) is rebuilt whole, as the cache does."""
    db = Db()
    snapshot = db.snapshot()
    for kind, member_id, token, variant in steps:
        ids = frozenset(apply(db, kind, member_id, token, variant))
        decisions(snapshot)  # warm the memos the patched snapshot inherits
        try:
            snapshot = snapshot.patched(db.change(snapshot, ids))
        except ValueError:
            snapshot = db.snapshot()
        assert_same(snapshot, db.snapshot())


@settings(max_examples=100, deadline=None)
@given(changes)
def test_a_patched_snapshot_leaves_the_one_it_came_from_as_it_was(
    steps: list[tuple[str, int, int, int]],
) -> None:
    db = Db()
    snapshot = db.snapshot()
    for kind, member_id, token, variant in steps:
        before = Db(dict(db.members), dict(db.tokens), dict(db.own))
        ids = frozenset(apply(db, kind, member_id, token, variant))
        try:
            patched = snapshot.patched(db.change(snapshot, ids))
        except ValueError:
            patched = db.snapshot()
        assert_same(snapshot, before.snapshot())
        snapshot = patched


def test_a_token_moved_to_a_member_the_snapshot_does_not_know_does_not_fit() -> None:
    db = Db()
    apply(db, "add", 1, 0, 0)
    apply(db, "token", 1, 0, 0)
    snapshot = db.snapshot()
    apply(db, "add", 2, 0, 0)  # not announced: the snapshot does not know member 2
    db.tokens["t1"] = db.tokens["t1"]._replace(member_id=2)
    with pytest.raises(ValueError, match="unknown member"):
        snapshot.patched(db.change(snapshot, frozenset({1})))


def test_a_member_of_an_unknown_organisation_does_not_fit() -> None:
    db = Db()
    apply(db, "add", 1, 0, 0)
    snapshot = db.snapshot()
    db.members[1] = db.members[1]._replace(org_id=99)
    with pytest.raises(ValueError, match="unknown organisation"):
        snapshot.patched(db.change(snapshot, frozenset({1})))


def test_a_deactivated_member_is_refused_by_the_patched_snapshot_only() -> None:
    db = Db()
    apply(db, "add", 1, 0, 0)
    apply(db, "token", 1, 0, 1)  # variant 1: ISO14443 "T1", no expiry
    before = db.snapshot()
    apply(db, "status", 1, 0, 1)
    after = before.patched(db.change(before, frozenset({1})))
    request = AuthRequest("T1", "CP-1")
    assert decide(before, request, {}, NOW, max_cache_lifetime=LIFETIME).accepted
    refused = decide(after, request, {}, NOW, max_cache_lifetime=LIFETIME)
    assert (refused.status, refused.reason.rule) == ("Blocked", "member.status")


def test_an_own_policy_patched_in_replaces_the_one_resolved_before() -> None:
    """The effective policy of a member with a policy of its own is resolved again."""
    db = Db()
    apply(db, "add", 1, 0, 0)
    apply(db, "token", 1, 0, 1)
    apply(db, "own", 1, 0, 0)  # night hours: refused at noon
    snapshot = db.snapshot()
    request = AuthRequest("T1", "CP-1")
    assert not decide(snapshot, request, {}, NOW, max_cache_lifetime=LIFETIME).accepted
    apply(db, "own", 1, 0, 1)  # always
    snapshot = snapshot.patched(db.change(snapshot, frozenset({1})))
    assert decide(snapshot, request, {}, NOW, max_cache_lifetime=LIFETIME).accepted
    apply(db, "own", 1, 0, 5)  # none: the organisation's office hours again
    snapshot = snapshot.patched(db.change(snapshot, frozenset({1})))
    assert 1 not in snapshot.own_policies
    assert decide(snapshot, request, {}, NOW, max_cache_lifetime=LIFETIME).accepted
    late = decide(snapshot, request, {}, NOW.replace(hour=19), max_cache_lifetime=LIFETIME)
    assert late.reason.rule == "policy.hours"


def test_member_rows_become_the_change_a_patch_applies() -> None:
    """`loader.member_change`: the same conversions as a whole build, for a few rows."""
    body = '{"hours": [{"days": ["mon"], "start": "22:00", "end": "06:00"}], "sites": ["Lyon"]}'
    rows = MemberRows(
        members=[(7, 1, "Ada", "L", None, "Manager", "Inactive", "2027-01-01T00:00:00Z")],
        member_groups=[(7, 3), (7, 4)],
        tokens=[("04ab", "ISO14443", 7, "Blocked", None), ("T9", "Central", 8, "Active", None)],
        policies=[("member", 7, body, "EUR", 1)],
        sites=[(10, 1, "Lyon")],
        generation=12,
    )
    change = member_change(rows, frozenset({7}))
    (member,) = change.members
    assert (member.status, member.groups, member.email) == ("Inactive", frozenset({3, 4}), "")
    assert member.valid_until == datetime(2027, 1, 1, tzinfo=UTC)
    assert [(t.value, t.member_id, t.status) for t in change.tokens] == [
        ("04ab", 7, "Blocked"),
        ("T9", 8, "Active"),
    ]
    assert change.policies[7].stations == StationScope(sites=frozenset({10}))


# ---- LayeredMap --------------------------------------------------------------------------

edits = st.lists(
    st.tuples(st.dictionaries(st.integers(0, 60), st.integers()), st.sets(st.integers(0, 60))),
    max_size=40,
)


@settings(max_examples=200)
@given(st.dictionaries(st.integers(0, 60), st.integers()), edits)
def test_a_layered_map_reads_as_the_dict_it_stands_for(
    start: dict[int, int], steps: list[tuple[dict[int, int], set[int]]]
) -> None:
    """Through any edits and folds into a new base, and its originals unchanged."""
    expected = dict(start)
    layered = LayeredMap(start)
    history = [(layered, dict(expected))]
    for set_, remove in steps:
        for key in remove - set_.keys():
            expected.pop(key, None)
        expected.update(set_)
        layered = layered.updated(set_, remove)
        history.append((layered, dict(expected)))
    for version, contents in history:
        assert dict(version) == contents and len(version) == len(contents)
        assert all(version.get(k) == contents.get(k) for k in range(-1, 62))
        assert all((k in version) == (k in contents) for k in range(-1, 62))
        with pytest.raises(KeyError):
            version[-1]


def test_a_layered_map_folds_its_changes_into_a_new_base() -> None:
    """The changes kept over the base stay few, whatever the number of edits."""
    layered = LayeredMap({i: i for i in range(10)})
    for i in range(5000):
        layered = layered.updated({100 + i: i}, [i % 10])
        assert len(layered._top) <= 1025
    assert dict(layered) == {100 + i: i for i in range(5000)}
