"""What the engine decides from: organisations, stations, members, tokens and
policies (gathered and indexed by `snapshot.Snapshot`).

Everything here is immutable. Identifiers: organisations, sites, groups and
members are integers (database ids); stations are their OCPP charge point
id; tokens are keyed by `normalize_token(value)`.

Policy rules are optional fields of `Policy`: `None` means "this policy does
not set the rule" (it is inherited from a less specific scope, see
`combine`), an explicit value (even an empty tuple of caps) sets it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from enum import StrEnum
from typing import NamedTuple

from .hours import WeeklySchedule
from .periods import Period
from .tariff import Tariff

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


class TokenTypeMatch(StrEnum):
    """How an organisation matches a 2.0.1 `IdTokenType` with its stored token.

    Chargers in the field are inconsistent: the same badge may be sent as
    `Local` in Authorize and `ISO14443` in the TransactionEvent that follows.
    """

    VALUE = "value"  # by value; the type presented is a hint (shown by explain)
    STRICT = "strict"  # value and type


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
    """`tz` rules the cap periods; `group_token` is sent as parentIdTag / groupIdToken;
    `token_type_match` says whether a 2.0.1 idToken's type must match too."""

    id: int
    name: str
    tz: tzinfo
    currency: str
    tariff: Tariff
    enforcement: EnforcementMode = EnforcementMode.ENFORCE
    group_token: str | None = None
    token_type_match: TokenTypeMatch = TokenTypeMatch.VALUE


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


def station_tz(station: StationInfo, org: OrganisationInfo) -> tzinfo:
    """The zone allowed hours are read in: the station's override, else its organisation's."""
    return station.tz if station.tz is not None else org.tz
