"""The authorization decision: `decide(snapshot, request, usage, now)`.

Answers Authorize (OCPP 1.6 §4.1 / 2.0.1 C01), StartTransaction (1.6 §4.8)
and TransactionEvent(Started) (2.0.1 E01–E03: the token is re-checked at
start, with the same rules). Pure: no I/O, no clock, no logging; the caller
passes `now` and logs the returned `Decision`.

Rules, in the order they are checked (the first that fails decides; see
`Rule` and PRODUCT.md's decision table):

 1. token.known            token unknown (or of another type)   Unknown
 2. token.status           token Blocked or Lost                 Blocked
 3. member.status          member Inactive (deactivated)         Blocked
 4. token.expiry           token expired                         Expired
 5. member.validity        membership expired                    Expired
 6. member.activation      member Pending (invited)              Invalid
 7. station.organisation   station unknown / of another org      NotAtThisLocation
 8. policy.validity        before the policy's dates / after     NotAtThisTime / Expired
 9. policy.stations        station not allowed                   NotAtThisLocation
10. policy.hours           outside allowed hours                 NotAtThisTime
11. cap.amount             amount cap reached                    NoCredit
12. cap.energy             energy (kWh) cap reached              NoCredit
13. cap.sessions           sessions-per-period cap reached       NotAtThisTime
14. cap.concurrent         concurrent-session cap reached        ConcurrentTx

Expiry (`Decision.expires_at`, always set, UTC). Accepted: the earliest of
the token's expiry, the membership's end, the policy's `valid_until`, the end
of the current allowed-hours stretch, and `now + max_cache_lifetime`; the
accepted reason names which one bound it. Refused: `now +
max_cache_lifetime`, or sooner when the refusal is known to lift earlier (the
next allowed-hours opening, the policy's `valid_from`, the end of the capped
period), so a charger does not keep refusing from its cache.

`Decision.checks` (every rule checked, with its limit and value, for
`explain`) is filled only when asked, `decide(..., explain=True)`: the hot
path builds the deciding reason alone. The outcome is the same either way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from enum import StrEnum
from functools import lru_cache

from .caps import admits_unused, check_limits
from .combine import EffectivePolicy, resolve_policy
from .decision import AuthStatus, Decision, Reason, Rule
from .hours import window_status
from .localtime import local_date, local_midnight
from .model import (
    MemberInfo,
    MemberStatus,
    OrganisationInfo,
    Snapshot,
    StationInfo,
    TokenStatus,
    TokenType,
    station_tz,
)
from .usage import EMPTY_USAGE, MemberUsage


class Purpose(StrEnum):
    AUTHORIZE = "Authorize"
    START = "Start"


@dataclass(frozen=True, slots=True)
class AuthRequest:
    """A token presented at a station: `token` as received (any case).

    `token_type` is the 2.0.1 `IdTokenType.type` (None in 1.6): when given, it
    must match the stored token's type. `purpose` does not change the rules:
    a start re-checks the token exactly as Authorize does (the start is then
    counted by `reserve_start`); it is there for the caller's records.
    """

    token: str
    station_id: str
    purpose: Purpose = Purpose.AUTHORIZE
    connector_id: int | None = None
    evse_id: int | None = None
    token_type: TokenType | None = None


@dataclass(slots=True)
class _Refuser:
    """Builds refusals carrying what is known so far.

    `checks` collects the rules that passed, or is None when not explaining.
    """

    checks: list[Reason] | None
    cache_end: datetime
    member: MemberInfo | None = None
    org: OrganisationInfo | None = None

    def __call__(
        self, status: AuthStatus, reason: Reason, lifts_at: datetime | None = None
    ) -> Decision:
        expiry = self.cache_end if lifts_at is None else min(self.cache_end, lifts_at)
        return Decision(
            status,
            reason,
            expires_at=expiry.astimezone(UTC),
            group_id=self.org.group_token if self.org is not None else None,
            member_id=self.member.id if self.member is not None else None,
            checks=() if self.checks is None else (*self.checks, reason),
        )


def decide(
    snapshot: Snapshot,
    request: AuthRequest,
    usage: Mapping[int, MemberUsage],
    now: datetime,
    *,
    max_cache_lifetime: timedelta,
    explain: bool = False,
) -> Decision:
    """Decide whether `request` may charge at `now` (aware); see the module docstring.

    `explain`: also list every rule checked in `Decision.checks` (else empty).
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    checks: list[Reason] | None = [] if explain else None
    refuse = _Refuser(checks, now + max_cache_lifetime)

    token = snapshot.token(request.token)
    if token is None:
        return refuse(AuthStatus.UNKNOWN, Reason(Rule.TOKEN_KNOWN, value="unknown", passed=False))
    if request.token_type is not None and request.token_type != token.type:
        reason = Reason(Rule.TOKEN_KNOWN, token.type.value, request.token_type.value, passed=False)
        return refuse(AuthStatus.UNKNOWN, reason)
    if checks is not None:
        checks.append(_ok(Rule.TOKEN_KNOWN, None, token.type.value))

    member = snapshot.members.get(token.member_id)
    org = snapshot.organisations.get(member.org_id) if member is not None else None
    if member is None or org is None:
        reason = Reason(Rule.MEMBER_STATUS, value="member missing", passed=False)
        return refuse(AuthStatus.INVALID, reason)
    refuse.member, refuse.org = member, org

    if token.status is not TokenStatus.ACTIVE:
        reason = Reason(Rule.TOKEN_STATUS, "Active", token.status.value, passed=False)
        return refuse(AuthStatus.BLOCKED, reason)
    if checks is not None:
        checks.append(_ok(Rule.TOKEN_STATUS, "Active", "Active"))

    if member.status is MemberStatus.INACTIVE:
        reason = Reason(Rule.MEMBER_STATUS, "not Inactive", member.status.value, passed=False)
        return refuse(AuthStatus.BLOCKED, reason)
    if checks is not None:
        checks.append(_ok(Rule.MEMBER_STATUS, "not Inactive", member.status.value))

    for rule, until in (
        (Rule.TOKEN_EXPIRY, token.expires_at),
        (Rule.MEMBER_VALIDITY, member.valid_until),
    ):
        if until is not None and now >= until:
            reason = Reason(rule, until.isoformat(), now.isoformat(), passed=False)
            return refuse(AuthStatus.EXPIRED, reason)
        if checks is not None:
            checks.append(_until_ok(rule, until, now))

    if member.status is not MemberStatus.ACTIVE:
        reason = Reason(Rule.MEMBER_ACTIVATION, "Active", member.status.value, passed=False)
        return refuse(AuthStatus.INVALID, reason)
    if checks is not None:
        checks.append(_ok(Rule.MEMBER_ACTIVATION, "Active", "Active"))

    station = snapshot.stations.get(request.station_id)
    if station is None or station.org_id != member.org_id:
        seen = _org_label(station.org_id) if station is not None else "unknown station"
        reason = Reason(Rule.STATION_ORGANISATION, _org_label(member.org_id), seen, passed=False)
        return refuse(AuthStatus.NOT_AT_THIS_LOCATION, reason)
    if checks is not None:
        label = _org_label(member.org_id)
        checks.append(_ok(Rule.STATION_ORGANISATION, label, label))

    policy = resolve_policy(snapshot, member)
    return _apply_policy(policy, usage, now, refuse, token.expires_at, member, station, org)


def _apply_policy(
    policy: EffectivePolicy,
    usage: Mapping[int, MemberUsage],
    now: datetime,
    refuse: _Refuser,
    token_expiry: datetime | None,
    member: MemberInfo,
    station: StationInfo,
    org: OrganisationInfo,
) -> Decision:
    """Rules 8–14, then the Accepted decision with its expiry."""
    checks = refuse.checks
    if policy.valid_from is not None and now < policy.valid_from:
        limit = policy.labels["validity"]
        reason = Reason(Rule.POLICY_VALIDITY, limit, now.isoformat(), passed=False)
        return refuse(AuthStatus.NOT_AT_THIS_TIME, reason, policy.valid_from)
    if policy.valid_until is not None and now >= policy.valid_until:
        limit = policy.labels["validity"]
        reason = Reason(Rule.POLICY_VALIDITY, limit, now.isoformat(), passed=False)
        return refuse(AuthStatus.EXPIRED, reason)
    if checks is not None:
        checks.append(_ok(Rule.POLICY_VALIDITY, policy.labels["validity"]))

    for scope in policy.stations:
        if not scope.admits(station):
            where = f"station {station.charge_point_id}, site {station.site_id}"
            reason = Reason(Rule.POLICY_STATIONS, policy.labels["stations"], where, passed=False)
            return refuse(AuthStatus.NOT_AT_THIS_LOCATION, reason)
    if checks is not None:
        checks.append(_ok(Rule.POLICY_STATIONS, policy.labels["stations"]))

    # The earliest bound wins; on a tie, the first listed.
    expiry, bound = refuse.cache_end, "max_cache_lifetime"
    for instant, rule in (
        (token_expiry, Rule.TOKEN_EXPIRY),
        (member.valid_until, Rule.MEMBER_VALIDITY),
        (policy.valid_until, Rule.POLICY_VALIDITY),
    ):
        if instant is not None and instant < expiry:
            expiry, bound = instant, rule.value
    tz = station_tz(station, org)
    for schedule in policy.hours:
        status = window_status(schedule, now, tz, horizon=expiry)
        if not status.inside:
            limit = f"{policy.labels['hours']} in {tz}"
            reason = Reason(Rule.POLICY_HOURS, limit, _wall_clock(now, tz), passed=False)
            return refuse(AuthStatus.NOT_AT_THIS_TIME, reason, status.until)
        if status.until is not None and status.until < expiry:
            expiry, bound = status.until, _HOURS
    if checks is not None:
        checks.append(_ok(Rule.POLICY_HOURS, policy.labels["hours"]))

    member_usage = usage.get(member.id, EMPTY_USAGE)
    breach = None
    if checks is not None or not admits_unused(member_usage, policy):
        breach = check_limits(member_usage, policy, local_date(now, org.tz), checks)
    if breach is not None:
        if checks is not None:
            checks.pop()  # the refusal lists it last
        lifts = local_midnight(breach.lifts_on, org.tz) if breach.lifts_on else None
        return refuse(breach.status, breach.reason, lifts)

    expires_at = expiry.astimezone(UTC)
    return Decision(
        AuthStatus.ACCEPTED,
        Reason(Rule.ACCEPTED, f"expiry from {bound}", expires_at.isoformat(), passed=True),
        expires_at=expires_at,
        group_id=org.group_token,
        member_id=member.id,
        checks=() if checks is None else tuple(checks),
    )


def flag_offline(
    snapshot: Snapshot,
    request: AuthRequest,
    usage: Mapping[int, MemberUsage],
    occurred_at: datetime,
    *,
    max_cache_lifetime: timedelta,
    explain: bool = False,
) -> Decision:
    """Judge a transaction that started offline at `occurred_at`, never refusing it.

    The rules are those of `decide` at `occurred_at` (usage as known now).
    Complying: that Accepted decision. Breaking a rule: an Accepted decision
    whose `flagged` is the broken rule and whose `expires_at` is `occurred_at`
    (already past, so no charger caches the token as accepted from it). The
    caller records the transaction and counts it (`usage.start_session`).
    """
    verdict = decide(
        snapshot,
        request,
        usage,
        occurred_at,
        max_cache_lifetime=max_cache_lifetime,
        explain=explain,
    )
    if verdict.accepted:
        return verdict
    return Decision(
        AuthStatus.ACCEPTED,
        Reason(Rule.OFFLINE, "accepted after the fact", verdict.status.value, passed=True),
        expires_at=occurred_at.astimezone(UTC),
        group_id=verdict.group_id,
        member_id=verdict.member_id,
        checks=verdict.checks,
        flagged=verdict.reason,
    )


@lru_cache(maxsize=4096)
def _ok(rule: str, limit: str | None = None, value: str | None = None) -> Reason:
    """A passing check. Shared instances: the same few recur on every decision."""
    return Reason(rule, limit, value, passed=True)


_HOURS = Rule.POLICY_HOURS.value
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _wall_clock(now: datetime, tz: tzinfo) -> str:
    """`now` as "Tue 10:30" in `tz` (what `%a %H:%M` gives in the C locale, 3× faster)."""
    local = now.astimezone(tz)
    return f"{_WEEKDAYS[local.weekday()]} {local.hour:02}:{local.minute:02}"


def _until_ok(rule: Rule, until: datetime | None, now: datetime) -> Reason:
    """The passing check of an expiry rule (`until` is None or after `now`)."""
    if until is None:
        return _ok(rule, "none")
    return Reason(rule, until.isoformat(), now.isoformat(), passed=True)


@lru_cache(maxsize=1024)
def _org_label(org_id: int) -> str:
    return f"organisation {org_id}"
