"""Rules 8–14 of `decide`: the member's effective policy, then the Accepted decision.

8. policy.validity (NotAtThisTime before, Expired after), 9. policy.stations
(NotAtThisLocation), 10. policy.hours (NotAtThisTime, in the station's zone),
11–14. the caps and the concurrency limit (`caps.check_limits`).

An Accepted expires at the earliest of the token's expiry, the membership's
end, the policy's `valid_until`, the end of the allowed-hours stretch holding
`now`, and the cache end (`now + max_cache_lifetime`); its reason names the
bound ("expiry from policy.hours"). A refusal expires at the cache end, or
sooner when it is known to lift sooner (the next opening of the hours, the
policy's `valid_from`, the end of the capped period).

This is the hot path of every accepted decision: enum members and labels are
read once into module constants, and nothing is formatted that the decision
does not carry.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from functools import lru_cache

from .caps import check_limits
from .combine import EffectivePolicy
from .decision import AuthStatus, Decision, Reason, Rule, passed, refused
from .hours import window_status
from .localtime import local_date, local_midnight
from .model import MemberInfo, OrganisationInfo, StationInfo
from .usage import EMPTY_USAGE, MemberUsage

_new = tuple.__new__  # a named tuple made without the Python-level `__new__` of its class
_ACCEPTED = AuthStatus.ACCEPTED
_ACCEPTED_RULE = Rule.ACCEPTED
# The accepted reason's limit, by what bound the expiry.
_FROM_LIFETIME = "expiry from max_cache_lifetime"
_FROM_TOKEN = f"expiry from {Rule.TOKEN_EXPIRY.value}"
_FROM_MEMBERSHIP = f"expiry from {Rule.MEMBER_VALIDITY.value}"
_FROM_POLICY = f"expiry from {Rule.POLICY_VALIDITY.value}"
_FROM_HOURS = f"expiry from {Rule.POLICY_HOURS.value}"


def apply_policy(
    policy: EffectivePolicy,
    usage: MemberUsage | None,
    now: datetime,
    cache_end: datetime,
    checks: list[Reason] | None,
    token_expiry: datetime | None,
    member: MemberInfo,
    station: StationInfo,
    org: OrganisationInfo,
) -> Decision:
    """Rules 8–14 for `member` at `station`, then the Accepted decision with its expiry.

    `usage`: the member's (None: has used nothing). `checks`: the rules
    checked so far, or None when not explaining.
    """
    member_id, group_id = member.id, org.group_token
    valid_from, valid_until = policy.valid_from, policy.valid_until
    if valid_from is not None and now < valid_from:
        reason = Reason(Rule.POLICY_VALIDITY, policy.labels["validity"], now.isoformat(), False)
        status = AuthStatus.NOT_AT_THIS_TIME
        return refused(status, reason, cache_end, member_id, group_id, checks, valid_from)
    if valid_until is not None and now >= valid_until:
        reason = Reason(Rule.POLICY_VALIDITY, policy.labels["validity"], now.isoformat(), False)
        return refused(AuthStatus.EXPIRED, reason, cache_end, member_id, group_id, checks)
    if checks is not None:
        checks.append(passed(Rule.POLICY_VALIDITY, policy.labels["validity"]))

    for scope in policy.limiting_stations:
        if not scope.admits(station):
            where = f"station {station.charge_point_id}, site {station.site_id}"
            reason = Reason(Rule.POLICY_STATIONS, policy.labels["stations"], where, passed=False)
            status = AuthStatus.NOT_AT_THIS_LOCATION
            return refused(status, reason, cache_end, member_id, group_id, checks)
    if checks is not None:
        checks.append(passed(Rule.POLICY_STATIONS, policy.labels["stations"]))

    # The earliest bound wins; on a tie, the first listed.
    expiry, bound = cache_end, _FROM_LIFETIME
    if token_expiry is not None and token_expiry < expiry:
        expiry, bound = token_expiry, _FROM_TOKEN
    if member.valid_until is not None and member.valid_until < expiry:
        expiry, bound = member.valid_until, _FROM_MEMBERSHIP
    if valid_until is not None and valid_until < expiry:
        expiry, bound = valid_until, _FROM_POLICY
    if policy.hours:
        tz = station.tz if station.tz is not None else org.tz
        for schedule in policy.hours:
            hours = window_status(schedule, now, tz, horizon=expiry)
            if not hours.inside:
                limit = f"{policy.labels['hours']} in {tz}"
                reason = Reason(Rule.POLICY_HOURS, limit, _wall_clock(now, tz), passed=False)
                status = AuthStatus.NOT_AT_THIS_TIME
                return refused(status, reason, cache_end, member_id, group_id, checks, hours.until)
            if hours.until is not None and hours.until < expiry:
                expiry, bound = hours.until, _FROM_HOURS
    if checks is not None:
        checks.append(passed(Rule.POLICY_HOURS, policy.labels["hours"]))

    if usage is None:
        usage = EMPTY_USAGE
    # A member who has used nothing passes every cap unless one is 0 (`caps.admits_unused`).
    if checks is not None or (
        policy.limited and (usage.days or usage.running or policy.zero_limit)
    ):
        breach = check_limits(usage, policy, local_date(now, org.tz), checks)
        if breach is not None:
            if checks is not None:
                checks.pop()  # the refusal lists it last
            lifts = local_midnight(breach.lifts_on, org.tz) if breach.lifts_on else None
            return refused(
                breach.status, breach.reason, cache_end, member_id, group_id, checks, lifts
            )

    expires_at = expiry.astimezone(UTC)
    # An instant bound by a rule recurs over many decisions; now + lifetime does not.
    iso = expires_at.isoformat() if bound is _FROM_LIFETIME else _iso(expires_at)
    reason = _new(Reason, (_ACCEPTED_RULE, bound, iso, True))
    listed = () if checks is None else tuple(checks)
    return _new(Decision, (_ACCEPTED, reason, expires_at, group_id, member_id, listed, None))


@lru_cache(maxsize=256)
def _iso(instant: datetime) -> str:
    return instant.isoformat()


_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _wall_clock(now: datetime, tz: tzinfo) -> str:
    """`now` as "Tue 10:30" in `tz` (what `%a %H:%M` gives in the C locale, 3× faster)."""
    local = now.astimezone(tz)
    return f"{_WEEKDAYS[local.weekday()]} {local.hour:02}:{local.minute:02}"
