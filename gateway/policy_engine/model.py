"""The frozen snapshot the engine decides from: organisations, stations,
members, tokens and policies, indexed for O(1) lookups.

A reload builds a new `Snapshot` and swaps one reference; nothing in it is
ever mutated. Identifiers: organisations, sites, groups and members are
integers (database ids); stations are their OCPP charge point id; tokens are
keyed by `normalize_token(value)`.

Policy rules are optional fields of `Policy`: `None` means "this policy does
not set the rule" (it is inherited from a less specific scope, see
`combine`), an explicit value (even an empty tuple of caps) sets it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING, NamedTuple

from .hours import WeeklySchedule
from .periods import Period
from .tariff import Tariff

if TYPE_CHECKING:
    from .combine import EffectivePolicy


_fold = str.casefold  # what `normalize_token` does, mapped over a million tokens at build


def normalize_token(value: str) -> str:
    """The lookup key of an idTag / idToken value.

    OCPP compares identifiers case-insensitively (1.6 `IdToken` is a
    `CiString20Type`, 2.0.1 `IdTokenType.idToken` a case-insensitive string),
    so "04a2b3c4" and "04A2B3C4" are the same badge. Nothing else is folded:
    whitespace is significant.
    """
    return _fold(value)


class EnforcementMode(StrEnum):
    """What the gateway does when a running session breaks a rule."""

    ENFORCE = "enforce"  # stop the session
    OBSERVE = "observe"  # record and flag it, let it run


class MemberStatus(StrEnum):
    PENDING = "Pending"
    ACTIVE = "Active"
    INACTIVE = "Inactive"


class Role(StrEnum):
    OWNER = "Owner"
    ADMINISTRATOR = "Administrator"
    MANAGER = "Manager"
    USER = "User"


class TokenStatus(StrEnum):
    ACTIVE = "Active"
    BLOCKED = "Blocked"
    LOST = "Lost"


class TokenType(StrEnum):
    """OCPP 2.0.1 IdTokenEnumType values a member's token can have."""

    ISO14443 = "ISO14443"
    ISO15693 = "ISO15693"
    EMAID = "eMAID"
    CENTRAL = "Central"
    KEY_CODE = "KeyCode"
    LOCAL = "Local"
    MAC_ADDRESS = "MacAddress"


@dataclass(frozen=True, slots=True)
class OrganisationInfo:
    """`tz` rules the cap periods; `group_token` is sent as parentIdTag / groupIdToken."""

    id: int
    name: str
    tz: tzinfo
    currency: str
    tariff: Tariff
    enforcement: EnforcementMode = EnforcementMode.ENFORCE
    group_token: str | None = None


@dataclass(frozen=True, slots=True)
class StationInfo:
    """`tz` overrides the organisation's zone for allowed hours; `tariff` its tariff."""

    charge_point_id: str
    org_id: int
    site_id: int | None = None
    tz: tzinfo | None = None
    tariff: Tariff | None = None


class MemberInfo(NamedTuple):
    """`valid_until` is the end of the membership (None: open-ended).

    A named tuple, as is `TokenInfo`: a reload builds a million of each, and
    a tuple is built three times faster than a frozen dataclass (change one
    with `_replace`).
    """

    id: int
    org_id: int
    first_name: str
    last_name: str
    email: str
    role: Role = Role.USER
    status: MemberStatus = MemberStatus.ACTIVE
    groups: frozenset[int] = frozenset()
    last_activity: datetime | None = None
    valid_until: datetime | None = None


class TokenInfo(NamedTuple):
    value: str
    type: TokenType
    member_id: int
    status: TokenStatus = TokenStatus.ACTIVE
    expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class StationScope:
    """Stations a policy allows: listed stations, stations of listed sites, or all.

    "All" means all of the member's organisation: a member never charges at
    another organisation's station. An empty scope allows no station.
    """

    stations: frozenset[str] = frozenset()
    sites: frozenset[int] = frozenset()
    all_stations: bool = False

    def admits(self, station: StationInfo) -> bool:
        return (
            self.all_stations
            or station.charge_point_id in self.stations
            or (station.site_id is not None and station.site_id in self.sites)
        )


ALL_STATIONS = StationScope(all_stations=True)


@dataclass(frozen=True, slots=True)
class PeriodCap:
    """At most `limit` per `period`.

    Units depend on the rule: minor units (amount), Wh (energy), sessions.
    `hold` (amount and energy caps) is what a start reserves until the session
    settles: None reserves all that remains in the period, so two starts
    racing for the last euro cannot both win.
    """

    limit: int
    period: Period
    hold: int | None = None

    def __post_init__(self) -> None:
        if self.limit < 0 or (self.hold is not None and self.hold <= 0):
            raise ValueError("a cap limit is >= 0 and a hold > 0")


@dataclass(frozen=True, slots=True)
class Validity:
    """Dates between which a policy lets its members charge: `[valid_from, valid_until)`."""

    valid_from: datetime | None = None
    valid_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class Policy:
    """A usage policy; every rule is optional (None: not set here, inherited)."""

    stations: StationScope | None = None
    hours: WeeklySchedule | None = None
    amount_caps: tuple[PeriodCap, ...] | None = None
    energy_caps: tuple[PeriodCap, ...] | None = None
    session_caps: tuple[PeriodCap, ...] | None = None
    max_concurrent: int | None = None
    validity: Validity | None = None
    name: str = ""


class ScopeKind(StrEnum):
    ORGANISATION = "organisation"
    GROUP = "group"
    MEMBER = "member"


class PolicyScope(NamedTuple):
    """What a policy is attached to: an organisation, a group or a member id."""

    kind: ScopeKind
    id: int

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.id}"


PolicyKey = tuple[int, int | None, frozenset[int]]
"""What a member's effective policy depends on (see `combine.policy_key`)."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything the engine reads, as read-only maps (build with `Snapshot.build`).

    `policy_groups` and `policy_members` are the group and member ids that
    have a policy of their own. `policy_memo` remembers effective policies
    once resolved, per `PolicyKey` (`combine.resolve_policy`): members of one
    organisation with no policy of their own and the same groups share one.
    It lives and dies with this snapshot, so a reload (a new snapshot) starts
    afresh. With the memos of `WeeklySchedule`, it is the only mutable part,
    and never changes an answer, only how fast it comes.
    """

    tokens: Mapping[str, TokenInfo]
    members: Mapping[int, MemberInfo]
    stations: Mapping[str, StationInfo]
    organisations: Mapping[int, OrganisationInfo]
    policies: Mapping[PolicyScope, Policy]
    policy_groups: frozenset[int] = field(init=False, repr=False, compare=False)
    policy_members: frozenset[int] = field(init=False, repr=False, compare=False)
    policy_memo: dict[PolicyKey, EffectivePolicy] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        scopes = self.policies.keys()
        groups = frozenset(s.id for s in scopes if s.kind is ScopeKind.GROUP)
        members = frozenset(s.id for s in scopes if s.kind is ScopeKind.MEMBER)
        object.__setattr__(self, "policy_groups", groups)
        object.__setattr__(self, "policy_members", members)

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
        token_map = dict(zip(map(_fold, [t.value for t in token_list]), token_list, strict=True))
        if len(token_map) < len(token_list) or not (
            {t.member_id for t in token_list} <= member_map.keys()
        ):
            _check_tokens(token_list, member_map)
        snapshot = cls(
            tokens=MappingProxyType(token_map),
            members=MappingProxyType(member_map),
            stations=MappingProxyType(station_map),
            organisations=MappingProxyType(orgs),
            policies=MappingProxyType(dict(policies or {})),
        )
        from .combine import resolve_member_policies  # combine imports this module

        resolve_member_policies(snapshot)
        return snapshot

    def token(self, value: str) -> TokenInfo | None:
        """The token presented as `value`, compared case-insensitively."""
        return self.tokens.get(normalize_token(value))

    def tariff_for(self, charge_point_id: str) -> Tariff | None:
        """The station's tariff, else its organisation's; None for an unknown station."""
        station = self.stations.get(charge_point_id)
        if station is None:
            return None
        if station.tariff is not None:
            return station.tariff
        return self.organisations[station.org_id].tariff


def station_tz(station: StationInfo, org: OrganisationInfo) -> tzinfo:
    """The zone allowed hours are read in: the station's override, else its organisation's."""
    return station.tz if station.tz is not None else org.tz


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
