"""The authorization decision: `decide(snapshot, request, usage, now)`.

Answers Authorize (OCPP 1.6 §4.1 / 2.0.1 C01), StartTransaction (1.6 §4.8)
and TransactionEvent(Started) (2.0.1 E01–E03: the token is re-checked at
start, with the same rules). Pure: no I/O, no clock, no logging; the caller
passes `now` and logs the returned `Decision`.

Rules, in the order they are checked (the first that fails decides; see
`Rule` and PRODUCT.md's decision table):

 1. token.known            token unknown (or of another type,   Unknown
                          when the organisation matches strictly)
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
of the current allowed-hours stretch, and `now + max_cache_lifetime` (`now`
truncated to the whole second: the same question asked again within the
same second, a retried Authorize, gets the same answer to the byte); the
accepted reason names which one bound it. Refused: `now +
max_cache_lifetime`, or sooner when the refusal is known to lift earlier (the
next allowed-hours opening, the policy's `valid_from`, the end of the capped
period), so a charger does not keep refusing from its cache.

`Decision.checks` (every rule checked, with its limit and value, for
`explain`) is filled only when asked, `decide(..., explain=True)`: the hot
path builds the deciding reason alone. The outcome is the same either way.

Rules 1–7 are here; the member's policy (8–14) and the Accepted decision are
in `policy_rules`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import lru_cache

from .combine import resolve_policy
from .decision import AuthStatus, Decision, Reason, Rule, passed, refused
from .model import MemberStatus, TokenStatus, TokenType, TokenTypeMatch
from .policy_rules import apply_policy
from .snapshot import Snapshot
from .usage import MemberUsage


class Purpose(StrEnum):
    AUTHORIZE = "Authorize"
    START = "Start"


@dataclass(frozen=True, slots=True)
class AuthRequest:
    """A token presented at a station: `token` as received (any case).

    `token_type` is the 2.0.1 `IdTokenType.type` (None in 1.6): when given, it
    must match the stored token's type if the token's organisation says so
    (`TokenTypeMatch.STRICT`); else it is a hint, shown by explain. `purpose`
    does not change the rules: a start re-checks the token exactly as Authorize
    does (the start is then counted by `reserve_start`); it is there for the
    caller's records.
    """

    token: str
    station_id: str
    purpose: Purpose = Purpose.AUTHORIZE
    connector_id: int | None = None
    evse_id: int | None = None
    token_type: TokenType | None = None


# Enum members read once: `TokenStatus.ACTIVE` costs a class attribute lookup each time.
_TOKEN_ACTIVE = TokenStatus.ACTIVE
_MEMBER_ACTIVE = MemberStatus.ACTIVE
_MEMBER_INACTIVE = MemberStatus.INACTIVE
_STRICT_TYPES = TokenTypeMatch.STRICT
_UNKNOWN_TOKEN = Reason(Rule.TOKEN_KNOWN, value="unknown", passed=False)
_MEMBER_MISSING = Reason(Rule.MEMBER_STATUS, value="member missing", passed=False)


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
    cache_end = now.replace(microsecond=0) + max_cache_lifetime

    holder = snapshot.holder(request.token)
    if holder is None:
        return refused(AuthStatus.UNKNOWN, _UNKNOWN_TOKEN, cache_end, None, None, checks)
    token, member = holder
    org = snapshot.organisations.get(member.org_id)
    if org is None:  # a snapshot never lets it happen
        return refused(AuthStatus.INVALID, _MEMBER_MISSING, cache_end, None, None, checks)
    presented = request.token_type
    if presented is not None and presented is not token.type:
        if org.token_type_match is _STRICT_TYPES:
            reason = Reason(Rule.TOKEN_KNOWN, token.type.value, presented.value, passed=False)
            return refused(AuthStatus.UNKNOWN, reason, cache_end, None, None, checks)
        if checks is not None:  # matched by value: the stored type, the one presented
            checks.append(passed(Rule.TOKEN_KNOWN, token.type.value, presented.value))
    elif checks is not None:
        checks.append(passed(Rule.TOKEN_KNOWN, None, token.type.value))
    member_id, group_id = member.id, org.group_token

    if token.status is not _TOKEN_ACTIVE:
        reason = Reason(Rule.TOKEN_STATUS, "Active", token.status.value, passed=False)
        return refused(AuthStatus.BLOCKED, reason, cache_end, member_id, group_id, checks)
    if checks is not None:
        checks.append(passed(Rule.TOKEN_STATUS, "Active", "Active"))

    status = member.status
    if status is _MEMBER_INACTIVE:
        reason = Reason(Rule.MEMBER_STATUS, "not Inactive", status.value, passed=False)
        return refused(AuthStatus.BLOCKED, reason, cache_end, member_id, group_id, checks)
    if checks is not None:
        checks.append(passed(Rule.MEMBER_STATUS, "not Inactive", status.value))

    token_expiry, valid_until = token.expires_at, member.valid_until
    if token_expiry is not None or valid_until is not None or checks is not None:
        for rule, until in ((Rule.TOKEN_EXPIRY, token_expiry), (Rule.MEMBER_VALIDITY, valid_until)):
            if until is not None and now >= until:
                reason = Reason(rule, until.isoformat(), now.isoformat(), passed=False)
                return refused(AuthStatus.EXPIRED, reason, cache_end, member_id, group_id, checks)
            if checks is not None:
                checks.append(_until_ok(rule, until, now))

    if status is not _MEMBER_ACTIVE:
        reason = Reason(Rule.MEMBER_ACTIVATION, "Active", status.value, passed=False)
        return refused(AuthStatus.INVALID, reason, cache_end, member_id, group_id, checks)
    if checks is not None:
        checks.append(passed(Rule.MEMBER_ACTIVATION, "Active", "Active"))

    station = snapshot.stations.get(request.station_id)
    if station is None or station.org_id != member.org_id:
        seen = _org_label(station.org_id) if station is not None else "unknown station"
        reason = Reason(Rule.STATION_ORGANISATION, _org_label(member.org_id), seen, passed=False)
        return refused(
            AuthStatus.NOT_AT_THIS_LOCATION, reason, cache_end, member_id, group_id, checks
        )
    if checks is not None:
        label = _org_label(member.org_id)
        checks.append(passed(Rule.STATION_ORGANISATION, label, label))

    policy = resolve_policy(snapshot, member)
    return apply_policy(
        policy, usage.get(member_id), now, cache_end, checks, token_expiry, member, station, org
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


def _until_ok(rule: Rule, until: datetime | None, now: datetime) -> Reason:
    """The passing check of an expiry rule (`until` is None or after `now`)."""
    if until is None:
        return passed(rule, "none")
    return Reason(rule, until.isoformat(), now.isoformat(), passed=True)


@lru_cache(maxsize=1024)
def _org_label(org_id: int) -> str:
    return f"organisation {org_id}"
