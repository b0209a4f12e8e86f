"""Caps per period and concurrency: admission, reservation, enforcement.

"Reached" means `used >= limit` everywhere: a member with a cap of 2 sessions
a day who has started 2 is refused the third; one with 1 minor unit left is
admitted.

- **Admission** (`check_limits`, used by `decide` and `reserve`) compares
  *committed* usage: settled plus each running session's hold or actual use,
  whichever is larger (`usage.PeriodTotals`), over the periods holding
  today.
- **Reservation** (`reserve`) is the atomic step the cache performs for a
  start: it re-runs admission on the member's current usage and either
  returns the new usage (session counted, hold taken) or a `Refusal`. The
  cache applies reserves one at a time, so of two starts racing for the last
  session, the last concurrency slot or the last euro, the first reserve wins
  and the second sees its effect and is refused. A start holds, per amount or
  energy cap, the cap's `hold` or (default) everything left in the period,
  capped by what is left; with several caps, the smallest.
- **Enforcement** (`check_running_caps`, used by `recheck_running`) compares
  *spent* usage (actual, no holds) over the periods holding the session's
  start day: at or over a cap, the session must stop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, tzinfo
from functools import lru_cache
from operator import attrgetter

from .combine import EffectivePolicy
from .decision import AuthStatus, Reason, Rule
from .localtime import local_date
from .model import PeriodCap
from .periods import period_days
from .usage import MemberUsage, PeriodTotals, SessionStart, period_totals, start_session

_Measure = Callable[[PeriodTotals], int]


@dataclass(frozen=True, slots=True)
class Breach:
    """A cap reached: the refusal, and the local day its period ends (None: unknown)."""

    status: AuthStatus
    reason: Reason
    lifts_on: date | None


@dataclass(frozen=True, slots=True)
class Refusal:
    """A start that `reserve` refused (the usage is unchanged)."""

    status: AuthStatus
    reason: Reason


class _Totals:
    """Period totals of one usage, computed once per distinct period."""

    __slots__ = ("_cache", "_usage")

    def __init__(self, usage: MemberUsage) -> None:
        self._usage = usage
        self._cache: dict[tuple[date, date], PeriodTotals] = {}

    def of(self, days: tuple[date, date]) -> PeriodTotals:
        found = self._cache.get(days)
        if found is None:
            found = self._cache[days] = period_totals(self._usage, *days)
        return found


_CapTable = tuple[tuple[Rule, str, AuthStatus, _Measure, str], ...]

# (rule, EffectivePolicy field, refusal, what counts, unit), in rule order.
_ADMISSION: _CapTable = (
    (Rule.CAP_AMOUNT, "amount_caps", AuthStatus.NO_CREDIT,
     attrgetter("amount_committed"), "minor units committed"),
    (Rule.CAP_ENERGY, "energy_caps", AuthStatus.NO_CREDIT,
     attrgetter("energy_committed"), "Wh committed"),
    (Rule.CAP_SESSIONS, "session_caps", AuthStatus.NOT_AT_THIS_TIME,
     attrgetter("sessions"), "sessions started"),
)  # fmt: skip
_ENFORCEMENT: _CapTable = (
    (Rule.CAP_AMOUNT, "amount_caps", AuthStatus.NO_CREDIT,
     attrgetter("amount_spent"), "minor units spent"),
    (Rule.CAP_ENERGY, "energy_caps", AuthStatus.NO_CREDIT,
     attrgetter("energy_spent"), "Wh spent"),
)  # fmt: skip
_CONCURRENT = Rule.CAP_CONCURRENT


def check_limits(
    usage: MemberUsage, policy: EffectivePolicy, today: date, checks: list[Reason]
) -> Breach | None:
    """Admission: amount, energy, session caps then concurrency, in that order.

    Appends one `Reason` per cap checked to `checks`; returns the first breach.
    """
    breach = _check_caps(_ADMISSION, usage, policy, today, checks)
    if breach is not None:
        return breach
    limit = policy.labels["max_concurrent"]
    if policy.max_concurrent is None:
        checks.append(_passed(_CONCURRENT, limit))
        return None
    running = len(usage.running)
    ok = running < policy.max_concurrent
    reason = Reason(_CONCURRENT, limit, f"{running} running", passed=ok)
    checks.append(reason)
    return None if ok else Breach(AuthStatus.CONCURRENT_TX, reason, None)


def check_running_caps(
    usage: MemberUsage, policy: EffectivePolicy, day: date, checks: list[Reason]
) -> Breach | None:
    """Enforcement: amount then energy caps, actual spend, periods holding `day`."""
    return _check_caps(_ENFORCEMENT, usage, policy, day, checks)


def _check_caps(
    table: _CapTable, usage: MemberUsage, policy: EffectivePolicy, day: date, checks: list[Reason]
) -> Breach | None:
    totals = _Totals(usage)
    for rule, name, status, measure, unit in table:
        caps: tuple[PeriodCap, ...] = getattr(policy, name)
        if not caps:
            checks.append(_passed(rule, policy.labels[name]))
            continue
        for cap, limit in zip(caps, policy.cap_labels[name], strict=True):
            days = period_days(cap.period, day)
            used = measure(totals.of(days))
            reason = Reason(rule, limit, f"{used} {unit}", passed=used < cap.limit)
            checks.append(reason)
            if not reason.passed:
                return Breach(status, reason, days[1])
    return None


@lru_cache(maxsize=1024)
def _passed(rule: str, limit: str) -> Reason:
    return Reason(rule, limit, passed=True)


def reserve(
    usage: MemberUsage, start: SessionStart, policy: EffectivePolicy, tz: tzinfo
) -> MemberUsage | Refusal:
    """Admit and count a start atomically, or refuse it (`tz`: the organisation's zone).

    A session id already running is a duplicate: the usage comes back unchanged.
    """
    if start.session_id in usage.running:
        return usage
    today = local_date(start.started_at, tz)
    breach = check_limits(usage, policy, today, [])
    if breach is not None:
        return Refusal(breach.status, breach.reason)
    totals = _Totals(usage)
    amount_hold = _hold(policy.amount_caps, today, totals, attrgetter("amount_committed"))
    energy_hold = _hold(policy.energy_caps, today, totals, attrgetter("energy_committed"))
    return start_session(usage, start, tz, amount_hold=amount_hold, energy_hold=energy_hold)


def _hold(caps: tuple[PeriodCap, ...], today: date, totals: _Totals, measure: _Measure) -> int:
    holds = []
    for cap in caps:
        remaining = cap.limit - measure(totals.of(period_days(cap.period, today)))
        holds.append(remaining if cap.hold is None else min(cap.hold, remaining))
    return max(min(holds), 0) if holds else 0
