"""The snapshot the engine decides from, and how it changes.

A `Snapshot` gathers organisations, stations, members, tokens and policies,
indexed for O(1) lookups. It never changes once made: a new one replaces it,
and whoever still holds the old one keeps reading a consistent whole.

Two ways to make one:

- `Snapshot.build(...)` from everything (at start, and after a change to
  organisations, stations, sites or group / organisation policies);
- `snapshot.patched(change)`: the same snapshot with some members replaced
  by their current state (`MemberChange`: their record, groups, tokens and
  own policy, as re-read). Members and tokens live in `LayeredMap`s, so a
  patch copies a small dict of changes and shares the rest with the
  snapshot it came from: its cost follows the change, not the size.

Patching leaves organisations, stations and organisation / group policies as
they are, so the memo of effective policies shared by members without a
policy of their own (which depends on nothing else) passes unchanged from a
snapshot to its patched copy; members with a policy of their own have theirs
resolved again when patched (`own_policies`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeAlias

from .combine import EffectivePolicy, effective_policy
from .layered import LayeredMap
from .model import (
    MemberInfo,
    OrganisationInfo,
    Policy,
    PolicyKey,
    PolicyScope,
    ScopeKind,
    StationInfo,
    TokenInfo,
    normalize_token,
)
from .tariff import Tariff
from .views import Holder, ScopedPolicies, TokenView

_fold = str.casefold  # `normalize_token`, without a call per token

TokenKeys: TypeAlias = str | tuple[str, ...]
"""A member's token keys: the key itself when it has one token (most), else a tuple."""

PolicyMemo: TypeAlias = dict[tuple[int, frozenset[int]] | PolicyKey, EffectivePolicy]
"""Effective policies of members without a policy of their own: by (organisation,
groups) as the member has them, and by `policy_key` to share one among equal keys."""


@dataclass(frozen=True, slots=True)
class MemberChange:
    """The current state of some members, as re-read after they changed.

    `member_ids`: the members re-read; those absent from `members` are gone.
    `tokens`: every token these members hold now, and the current state of
    every token they held in the snapshot being patched
    (`Snapshot.token_values`): a token moved to another member is there with
    its new member; one absent was deleted. `policies`: the member-scope
    policies of `member_ids`, by member id (absent: none).
    """

    member_ids: frozenset[int]
    members: tuple[MemberInfo, ...] = ()
    tokens: tuple[TokenInfo, ...] = ()
    policies: Mapping[int, Policy] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything the engine reads, as read-only maps (make one with `Snapshot.build`).

    `holders` maps each token's key to the token and its member, so that a
    decision finds both in one lookup (a million of each are far apart in
    memory: each lookup spared is a cache miss spared); `tokens` reads it as
    a map of tokens. `member_tokens` indexes each member's token keys (what a
    patch must re-state). `own_policies` holds the effective policy of every
    member with a policy of its own; `policy_groups` the groups that have a
    policy. `policy_memo` remembers the effective policies of the other
    members (`combine.resolve_policy`); with the memos of `WeeklySchedule` it
    is the only mutable part, and never changes an answer, only how fast it
    comes.
    """

    holders: LayeredMap[str, Holder]
    members: LayeredMap[int, MemberInfo]
    stations: Mapping[str, StationInfo]
    organisations: Mapping[int, OrganisationInfo]
    policies: ScopedPolicies
    member_tokens: LayeredMap[int, TokenKeys] = field(repr=False, compare=False)
    own_policies: LayeredMap[int, EffectivePolicy] = field(repr=False, compare=False)
    policy_groups: frozenset[int] = field(repr=False, compare=False)
    policy_memo: PolicyMemo = field(repr=False, compare=False)
    tokens: TokenView = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tokens", TokenView(self.holders))

    @classmethod
    def build(
        cls,
        *,
        organisations: Iterable[OrganisationInfo],
        stations: Iterable[StationInfo] = (),
        members: Iterable[MemberInfo] = (),
        tokens: Iterable[TokenInfo] = (),
        policies: Mapping[PolicyScope, Policy] | None = None,
    ) -> Snapshot:
        """Index and check the data; ValueError on a dangling reference or duplicate token.

        Sized for a million members and tokens: the checks run over whole
        collections, and find the culprit only when one fails.
        """
        orgs = {o.id: o for o in organisations}
        station_map = {s.charge_point_id: s for s in stations}
        member_map = {m.id: m for m in members}
        for s in station_map.values():
            _require(s.org_id in orgs, f"station {s.charge_point_id}: unknown organisation")
        if not {m.org_id for m in member_map.values()} <= orgs.keys():
            bad = next(m for m in member_map.values() if m.org_id not in orgs)
            raise ValueError(f"member {bad.id}: unknown organisation")
        token_list = list(tokens)
        keys = list(map(_fold, [t.value for t in token_list]))
        owner_ids = [t.member_id for t in token_list]
        if len(set(keys)) < len(keys) or not set(owner_ids) <= member_map.keys():
            _check_tokens(token_list, member_map)
        owners = map(member_map.__getitem__, owner_ids)
        holders = dict(zip(keys, zip(token_list, owners, strict=True), strict=True))
        shared = {s: p for s, p in (policies or {}).items() if s.kind is not ScopeKind.MEMBER}
        own = {s.id: p for s, p in (policies or {}).items() if s.kind is ScopeKind.MEMBER}
        scoped = ScopedPolicies(MappingProxyType(shared), LayeredMap.owning(own))
        return cls(
            holders=LayeredMap.owning(holders),
            members=LayeredMap.owning(member_map),
            stations=MappingProxyType(station_map),
            organisations=MappingProxyType(orgs),
            policies=scoped,
            member_tokens=LayeredMap.owning(_index_tokens(keys, owner_ids)),
            own_policies=LayeredMap.owning(_own_policies(scoped, member_map, own)),
            policy_groups=frozenset(s.id for s in shared if s.kind is ScopeKind.GROUP),
            policy_memo={},
        )

    def token(self, value: str) -> TokenInfo | None:
        """The token presented as `value`, compared case-insensitively."""
        holder = self.holders.get(_fold(value))
        return None if holder is None else holder[0]

    def holder(self, value: str) -> Holder | None:
        """The token presented as `value` (compared case-insensitively), and its member."""
        return self.holders.get(_fold(value))

    def tariff_for(self, charge_point_id: str) -> Tariff | None:
        """The station's tariff, else its organisation's; None for an unknown station."""
        station = self.stations.get(charge_point_id)
        if station is None:
            return None
        if station.tariff is not None:
            return station.tariff
        return self.organisations[station.org_id].tariff

    def token_keys(self, member_id: int) -> tuple[str, ...]:
        """The keys (`normalize_token`) of the member's tokens."""
        keys = self.member_tokens.get(member_id, ())
        return (keys,) if isinstance(keys, str) else keys

    def token_values(self, member_ids: Iterable[int]) -> list[str]:
        """The values of the tokens these members hold, as stored."""
        return [self.tokens[k].value for m in member_ids for k in self.token_keys(m)]

    def bulk(self) -> list[dict[Any, Any]]:
        """The dicts that hold this snapshot's millions of entries (see `LayeredMap.parts`)."""
        maps = (self.holders, self.members, self.member_tokens, self.own_policies)
        return [part for layered in (*maps, self.policies.members) for part in layered.parts()]

    def patched(self, change: MemberChange) -> Snapshot:
        """This snapshot with `change`'s members (and their tokens) as re-read.

        ValueError when the change does not fit the snapshot (a member of an
        unknown organisation, a token of a member it does not know, a
        duplicate token): the caller then builds a whole new snapshot.
        """
        ids = change.member_ids
        members = {m.id: m for m in change.members}
        _require(members.keys() <= ids, "a changed member was not announced")
        for m in members.values():
            _require(m.org_id in self.organisations, f"member {m.id}: unknown organisation")
        member_map = self.members.updated(members, ids - members.keys())

        tokens: dict[str, TokenInfo] = {}
        held: dict[int, list[str]] = {}  # member id: keys of its tokens in the change
        for t in change.tokens:
            key = _fold(t.value)
            _require(key not in tokens, f"token of member {t.member_id}: duplicate value")
            _require(t.member_id in member_map, f"token of member {t.member_id}: unknown member")
            tokens[key] = t
            held.setdefault(t.member_id, []).append(key)
        restated = {k for m in ids for k in self.token_keys(m)} | tokens.keys()
        old_owners = {old.member_id for k in restated if (old := self.tokens.get(k)) is not None}
        index: dict[int, TokenKeys] = {}
        unindexed: list[int] = []
        for member_id in old_owners | ids | held.keys():
            kept = [k for k in self.token_keys(member_id) if k not in restated]
            kept += held.get(member_id, ())
            if not kept:
                unindexed.append(member_id)
            else:
                index[member_id] = kept[0] if len(kept) == 1 else tuple(kept)

        own = {m: p for m, p in change.policies.items() if m in ids}
        member_policies = self.policies.members.updated(own, ids - own.keys())
        scoped = ScopedPolicies(self.policies.shared, member_policies)
        resolved = _own_policies(scoped, members, own)
        holders = {key: (t, member_map[t.member_id]) for key, t in tokens.items()}
        return Snapshot(
            holders=self.holders.updated(holders, restated - tokens.keys()),
            members=member_map,
            stations=self.stations,
            organisations=self.organisations,
            policies=scoped,
            member_tokens=self.member_tokens.updated(index, unindexed),
            own_policies=self.own_policies.updated(resolved, ids - resolved.keys()),
            policy_groups=self.policy_groups,
            policy_memo=self.policy_memo,
        )


def _index_tokens(keys: list[str], owners: list[int]) -> dict[int, TokenKeys]:
    """Each member's token keys (see `TokenKeys`), from the keys and their members' ids.

    Most members have one token: the index of those is made by `dict`, in C;
    only members with several are gathered one by one.
    """
    index: dict[int, TokenKeys] = dict(zip(owners, keys, strict=True))
    if len(index) < len(keys):
        several = {m for m, count in Counter(owners).items() if count > 1}
        gathered: dict[int, list[str]] = {m: [] for m in several}
        for member_id, key in zip(owners, keys, strict=True):
            if member_id in several:
                gathered[member_id].append(key)
        index.update((m, tuple(found)) for m, found in gathered.items())
    return index


def _own_policies(
    policies: Mapping[PolicyScope, Policy],
    members: Mapping[int, MemberInfo],
    own: Mapping[int, Policy],
) -> dict[int, EffectivePolicy]:
    """The effective policies of the members of `members` that have one of their own."""
    return {
        member_id: effective_policy(policies, member)
        for member_id in own
        if (member := members.get(member_id)) is not None
    }


def _check_tokens(tokens: Iterable[TokenInfo], members: Mapping[int, MemberInfo]) -> None:
    """ValueError naming the first token that is a duplicate or has no member."""
    seen: set[str] = set()
    for t in tokens:
        key = normalize_token(t.value)
        _require(key not in seen, f"token of member {t.member_id}: duplicate value")
        _require(t.member_id in members, f"token of member {t.member_id}: unknown member")
        seen.add(key)


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)
