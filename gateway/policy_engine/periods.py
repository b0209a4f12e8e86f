"""Cap periods: calendar day, ISO week, calendar month, rolling N days.

Periods are made of whole local days in the **organisation's** time zone
(stations of one organisation may sit in other zones, the caps do not move
with them):

- `day`: the local date;
- `week`: Monday to Sunday (ISO 8601 week);
- `month`: the calendar month;
- `rolling N days`: today and the N − 1 days before it (so it moves forward
  at each local midnight, like the others).

`period_days` gives the local dates `[first, end)`; `period_bounds` the
instants, which are local midnights and so 23 or 25 hours apart around DST
changes (see `localtime` for a midnight that falls in a gap). Usage is kept in
per-day buckets keyed by local date, so every kind of period is a sum of days.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from enum import StrEnum
from functools import lru_cache

from .localtime import local_date, local_midnight


class PeriodKind(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    ROLLING_DAYS = "rolling_days"


@dataclass(frozen=True, slots=True)
class Period:
    """A cap period; `days` is used by `ROLLING_DAYS` only."""

    kind: PeriodKind
    days: int = 1

    def __post_init__(self) -> None:
        if self.days < 1:
            raise ValueError(f"a period spans at least one day, not {self.days}")
        if self.kind is not PeriodKind.ROLLING_DAYS and self.days != 1:
            raise ValueError("only rolling periods take a number of days")

    @classmethod
    def day(cls) -> Period:
        return cls(PeriodKind.DAY)

    @classmethod
    def week(cls) -> Period:
        return cls(PeriodKind.WEEK)

    @classmethod
    def month(cls) -> Period:
        return cls(PeriodKind.MONTH)

    @classmethod
    def rolling(cls, days: int) -> Period:
        return cls(PeriodKind.ROLLING_DAYS, days)

    def __str__(self) -> str:
        if self.kind is PeriodKind.ROLLING_DAYS:
            return f"rolling {self.days} days"
        return self.kind.value


def period_days(period: Period, today: date) -> tuple[date, date]:
    """Local dates `[first, end)` of the period holding local date `today`."""
    return period_days_of(period.kind, period.days, today)


@lru_cache(maxsize=1024)
def period_days_of(kind: PeriodKind, days: int, today: date) -> tuple[date, date]:
    """`period_days` of `Period(kind, days)`, memoised: every decision asks for the same
    few periods of today (and hashing these three is cheaper than hashing a `Period`)."""
    if kind is PeriodKind.DAY:
        return today, today + timedelta(days=1)
    if kind is PeriodKind.WEEK:
        first = today - timedelta(days=today.weekday())
        return first, first + timedelta(days=7)
    if kind is PeriodKind.MONTH:
        first = today.replace(day=1)
        if first.month == 12:
            return first, first.replace(year=first.year + 1, month=1)
        return first, first.replace(month=first.month + 1)
    return today - timedelta(days=days - 1), today + timedelta(days=1)


def period_bounds(period: Period, now: datetime, tz: tzinfo) -> tuple[datetime, datetime]:
    """Instants `[start, end)` of the period holding `now`, in zone `tz`."""
    first, end = period_days(period, local_date(now, tz))
    return local_midnight(first, tz), local_midnight(end, tz)
