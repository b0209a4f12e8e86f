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
from operator import itemgetter

from .combine import EffectivePolicy
from .decision import AuthStatus, Reason, Rule
from .localtime import local_date
from .model import PeriodCap
from .periods import period_days, period_days_of
from .usage import MemberUsage, PeriodTotals, SessionStart, Sums, period_sums, start_session

_Measure = Callable[[Sums], int]


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


_Spans = dict[tuple[date, date], Sums]
"""Period sums of one usage (`usage.period_sums`), by `period_days`: computed once per
distinct period."""


def _totals(usage: MemberUsage, days: tuple[date, date], spans: _Spans) -> Sums:
    found = spans.get(days)
    if found is None:
        found = spans[days] = period_sums(usage, days[0].toordinal(), days[1].toordinal())
    return found


_CapTable = tuple[tuple[Rule, str, AuthStatus, str, str], ...]

# (rule, EffectivePolicy field, refusal, PeriodTotals field counted, unit), in rule order.
_ADMISSION: _CapTable = (
    (Rule.CAP_AMOUNT, "amount_caps", AuthStatus.NO_CREDIT, "amount_committed",
     "minor units committed"),
    (Rule.CAP_ENERGY, "energy_caps", AuthStatus.NO_CREDIT, "energy_committed", "Wh committed"),
    (Rule.CAP_SESSIONS, "session_caps", AuthStatus.NOT_AT_THIS_TIME, "sessions",
     "sessions started"),
)  # fmt: skip
_ENFORCEMENT: _CapTable = (
    (Rule.CAP_AMOUNT, "amount_caps", AuthStatus.NO_CREDIT, "amount_spent", "minor units spent"),
    (Rule.CAP_ENERGY, "energy_caps", AuthStatus.NO_CREDIT, "energy_spent", "Wh spent"),
)
_CONCURRENT = Rule.CAP_CONCURRENT
_AMOUNT_COMMITTED: _Measure = itemgetter(PeriodTotals._fields.index("amount_committed"))
_ENERGY_COMMITTED: _Measure = itemgetter(PeriodTotals._fields.index("energy_committed"))

# The same tables by EffectivePolicy field, counted by position, for `_first_breach`.
_CapSpecs = dict[str, tuple[Rule, AuthStatus, int, str]]


def _specs(table: _CapTable) -> _CapSpecs:
    index = PeriodTotals._fields.index
    return {
        name: (rule, status, index(counted), unit) for rule, name, status, counted, unit in table
    }


_ADMITTING = _specs(_ADMISSION)
_ENFORCING = _specs(_ENFORCEMENT)


def admits_unused(usage: MemberUsage, policy: EffectivePolicy) -> bool:
    """True when nothing counts in `usage` and no limit is 0: every cap admits it.

    A shortcut for `check_limits` (which gives the same answer) on the hot path.
    """
    return not (usage.days or usage.running or policy.zero_limit)


def check_limits(
    usage: MemberUsage, policy: EffectivePolicy, today: date, checks: list[Reason] | None = None
) -> Breach | None:
    """Admission: amount, energy, session caps then concurrency, in that order.

    Returns the first breach. `checks`, when given, receives one `Reason`
    per cap checked (for `explain`).
    """
    return _admit(usage, policy, today, checks, {})


def _admit(
    usage: MemberUsage,
    policy: EffectivePolicy,
    today: date,
    checks: list[Reason] | None,
    spans: _Spans,
) -> Breach | None:
    if checks is None:
        breach = _first_breach(_ADMITTING, usage, policy, today, spans)
    else:
        breach = _check_caps(_ADMISSION, usage, policy, today, checks, spans)
    if breach is not None:
        return breach
    if policy.max_concurrent is None:
        if checks is not None:
            checks.append(_passed(_CONCURRENT, policy.labels["max_concurrent"]))
        return None
    running = len(usage.running)
    ok = running < policy.max_concurrent
    if ok and checks is None:
        return None
    reason = Reason(_CONCURRENT, policy.labels["max_concurrent"], f"{running} running", passed=ok)
    if checks is not None:
        checks.append(reason)
    return None if ok else Breach(AuthStatus.CONCURRENT_TX, reason, None)


def check_running_caps(
    usage: MemberUsage, policy: EffectivePolicy, day: date, checks: list[Reason] | None = None
) -> Breach | None:
    """Enforcement: amount then energy caps, actual spend, periods holding `day`."""
    if checks is None:
        return _first_breach(_ENFORCING, usage, policy, day, {})
    return _check_caps(_ENFORCEMENT, usage, policy, day, checks, {})


def running_room(
    usage: MemberUsage, policy: EffectivePolicy, day: date
) -> tuple[int | None, int | None]:
    """What may still be spent (amount, energy) before `check_running_caps` finds a cap
    reached: the least of limit less spend over the caps of each kind (None: no such cap).
    A cap is reached when its room is 0 or less."""
    room: dict[str, int] = {}
    spans: _Spans = {}
    for name, limit, kind, length, _label in policy.cap_plan:
        spec = _ENFORCING.get(name)
        if spec is None:
            continue
        left = limit - _totals(usage, period_days_of(kind, length, day), spans)[spec[2]]
        room[name] = min(room.get(name, left), left)
    return room.get("amount_caps"), room.get("energy_caps")


def _first_breach(
    specs: _CapSpecs, usage: MemberUsage, policy: EffectivePolicy, day: date, spans: _Spans
) -> Breach | None:
    """The first cap reached, as `_check_caps` finds it, without recording the checks."""
    idle = not usage.days and not usage.running  # nothing counts in any period
    for name, limit, kind, length, label in policy.cap_plan:
        spec = specs.get(name)
        if spec is None or (idle and limit > 0):
            continue
        days = period_days_of(kind, length, day)
        rule, status, counted, unit = spec
        used = _totals(usage, days, spans)[counted]
        if used >= limit:
            return Breach(status, Reason(rule, label, f"{used} {unit}", passed=False), days[1])
    return None


def _check_caps(
    table: _CapTable,
    usage: MemberUsage,
    policy: EffectivePolicy,
    day: date,
    checks: list[Reason],
    spans: _Spans,
) -> Breach | None:
    """Every cap of `table`, each recorded in `checks`, until the first reached."""
    for rule, name, status, counted, unit in table:
        measure = itemgetter(PeriodTotals._fields.index(counted))
        caps: tuple[PeriodCap, ...] = getattr(policy, name)
        if not caps:
            checks.append(_passed(rule, policy.labels[name]))
            continue
        for cap, limit in zip(caps, policy.cap_labels[name], strict=True):
            days = period_days(cap.period, day)
            used = measure(_totals(usage, days, spans))
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
    spans: _Spans = {}
    breach = _admit(usage, policy, today, None, spans)
    if breach is not None:
        return Refusal(breach.status, breach.reason)
    amount_hold = _hold(usage, policy.amount_caps, today, spans, _AMOUNT_COMMITTED)
    energy_hold = _hold(usage, policy.energy_caps, today, spans, _ENERGY_COMMITTED)
    return start_session(usage, start, tz, amount_hold=amount_hold, energy_hold=energy_hold)


def _hold(
    usage: MemberUsage, caps: tuple[PeriodCap, ...], today: date, spans: _Spans, measure: _Measure
) -> int:
    holds = []
    for cap in caps:
        remaining = cap.limit - measure(_totals(usage, period_days(cap.period, today), spans))
        holds.append(remaining if cap.hold is None else min(cap.hold, remaining))
    return max(min(holds), 0) if holds else 0
