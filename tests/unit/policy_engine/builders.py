"""Small builders of snapshots and requests for the policy engine's unit tests."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, tzinfo
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from gateway.policy_engine import (
    AuthRequest,
    DayTotals,
    Decision,
    EnforcementMode,
    MemberInfo,
    MemberUsage,
    OrganisationInfo,
    Policy,
    PolicyScope,
    Purpose,
    Reason,
    ScopeKind,
    SessionStart,
    Snapshot,
    StationInfo,
    Tariff,
    TokenInfo,
    TokenType,
    TokenTypeMatch,
    decide,
)

PARIS = ZoneInfo("Europe/Paris")
UTC_ZONE = ZoneInfo("UTC")
ORG_ID = 1
OTHER_ORG_ID = 2
MEMBER_ID = 7
TOKEN = "04A1B2C3"
STATION = "CP-1"
SITE = 10
GROUP_TOKEN = "ORG-1-GROUP"
LIFETIME = timedelta(hours=24)
TARIFF = Tariff(Decimal("25"))  # 0.25 EUR per kWh, in cents
# A Wednesday afternoon in Paris, far from any DST change.
NOW = datetime(2024, 6, 12, 14, 0, tzinfo=PARIS)


def org_scope(org_id: int = ORG_ID) -> PolicyScope:
    return PolicyScope(ScopeKind.ORGANISATION, org_id)


def group_scope(group_id: int) -> PolicyScope:
    return PolicyScope(ScopeKind.GROUP, group_id)


def member_scope(member_id: int = MEMBER_ID) -> PolicyScope:
    return PolicyScope(ScopeKind.MEMBER, member_id)


DEFAULT_MEMBER = MemberInfo(MEMBER_ID, ORG_ID, "Ada", "Lovelace", "ada@example.org")
DEFAULT_TOKEN = TokenInfo(TOKEN, TokenType.ISO14443, MEMBER_ID)


def make_member(**changes: Any) -> MemberInfo:
    return DEFAULT_MEMBER._replace(**changes)


def make_token(**changes: Any) -> TokenInfo:
    return DEFAULT_TOKEN._replace(**changes)


def make_snapshot(
    *,
    policies: Mapping[PolicyScope, Policy] | None = None,
    member: MemberInfo | None = None,
    token: TokenInfo | None = None,
    stations: Iterable[StationInfo] | None = None,
    org_tz: tzinfo = PARIS,
    enforcement: EnforcementMode = EnforcementMode.ENFORCE,
    tariff: Tariff = TARIFF,
    token_type_match: TokenTypeMatch = TokenTypeMatch.VALUE,
) -> Snapshot:
    orgs = [
        OrganisationInfo(
            ORG_ID,
            "Org",
            org_tz,
            "EUR",
            tariff,
            enforcement,
            group_token=GROUP_TOKEN,
            token_type_match=token_type_match,
        ),
        OrganisationInfo(OTHER_ORG_ID, "Other", PARIS, "EUR", tariff),
    ]
    if stations is None:
        stations = [
            StationInfo(STATION, ORG_ID, site_id=SITE),
            StationInfo("CP-2", ORG_ID, site_id=11),
            StationInfo("CP-X", OTHER_ORG_ID),
        ]
    return Snapshot.build(
        organisations=orgs,
        stations=stations,
        members=[member or make_member()],
        tokens=[token or make_token()],
        policies=policies,
    )


def ask(
    snapshot: Snapshot,
    now: datetime = NOW,
    *,
    usage: Mapping[int, MemberUsage] | None = None,
    token: str = TOKEN,
    station: str = STATION,
    purpose: Purpose = Purpose.AUTHORIZE,
    token_type: TokenType | None = None,
    lifetime: timedelta = LIFETIME,
) -> Decision:
    """`decide` with `explain=True`, checked to agree with the hot path (no checks)."""
    request = AuthRequest(token, station, purpose=purpose, token_type=token_type)
    explained = decide(
        snapshot, request, usage or {}, now, max_cache_lifetime=lifetime, explain=True
    )
    fast = decide(snapshot, request, usage or {}, now, max_cache_lifetime=lifetime)
    assert fast == explained._replace(checks=()), "explain=True changed the outcome"
    return explained


def session_start(
    session_id: str = "tx-1",
    started_at: datetime = NOW,
    *,
    member_id: int = MEMBER_ID,
    station: str = STATION,
    tariff: Tariff = TARIFF,
    flagged: Reason | None = None,
) -> SessionStart:
    return SessionStart(
        session_id=session_id,
        member_id=member_id,
        token=TOKEN.casefold(),
        station_id=station,
        started_at=started_at,
        tariff=tariff,
        flagged=flagged,
    )


def settled_usage(
    *, amount: int = 0, energy_wh: int = 0, sessions: int = 0, on: datetime = NOW
) -> dict[int, MemberUsage]:
    """The usage map of a member who settled these totals on the local day of `on`."""
    day = on.astimezone(PARIS).date().toordinal()
    return {MEMBER_ID: MemberUsage(days={day: DayTotals(amount, energy_wh, sessions)})}
