"""Allowed hours: weekly wall-clock windows, in the station's time zone.

A `TimeWindow` opens on a weekday at `start` and closes at `end`:

- `end > start`: the same day (08:00–18:00);
- `end <= start`: the next day, an overnight window (22:00–06:00 opens on its
  weekday at 22:00 and closes the following morning; 08:00–00:00 closes at
  midnight); `end == start` is a whole 24 hours.

An overnight window belongs to the weekday it opens on: "Friday 22:00–06:00"
allows Saturday 05:00 but not Friday 05:00.

Each occurrence of a window is an interval of instants `[open, close)` whose
ends are turned into instants by `localtime.local_instant`: a boundary in a DST
gap moves to the end of the gap, a boundary in a DST overlap is its first
occurrence. So in Europe/Paris a window 22:00–02:30 ends at 03:00 CEST on the
spring night (the clock jumps from 02:00 to 03:00) and at the first 02:30 (CEST)
on the autumn night; a window lying wholly inside the gap does not open that
day. Being "inside" and "when does it end" both read the same intervals, so
they never disagree.

Windows that touch or overlap chain into one allowed stretch:
`window_status` reports the end of the whole stretch (a member allowed
"every day 00:00–00:00" is never cut off at midnight), which is what the
charger's authorization cache may be given as expiry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from .localtime import local_date, local_instant

_DAY = timedelta(days=1)
_WEEK_SECONDS = 7 * 86400
_DEFAULT_HORIZON = timedelta(days=8)


def _seconds(t: time) -> int:
    return t.hour * 3600 + t.minute * 60 + t.second


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """One weekly window: `weekday` 0 = Monday … 6 = Sunday (ISO weekday − 1)."""

    weekday: int
    start: time
    end: time

    def __post_init__(self) -> None:
        if not 0 <= self.weekday <= 6:
            raise ValueError(f"weekday must be 0 (Monday) to 6 (Sunday), not {self.weekday}")
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("window times are wall-clock times: no tzinfo")

    @property
    def overnight(self) -> bool:
        """True when the window closes on the day after it opens."""
        return self.end <= self.start

    def occurrence(self, day: date, tz: tzinfo) -> tuple[datetime, datetime] | None:
        """The `[open, close)` instants of this window opening on `day`, if non-empty."""
        opens = local_instant(day, self.start, tz)
        closes = local_instant(day + _DAY if self.overnight else day, self.end, tz)
        return (opens, closes) if closes > opens else None


_Interval = tuple[datetime, datetime]
_MEMO_SIZE = 64


@dataclass(frozen=True, slots=True)
class WeeklySchedule:
    """A set of weekly windows; an instant is allowed when any window holds it.

    Two memos, which never change an answer, only how fast it comes:
    `occurrences` per (day, zone), a few dozen at most; and per zone the last
    `window_status` found: the instant it was asked at, the instant `until`
    which that status holds (see `window_status`), and the status to return
    with `until` before or beyond the horizon. Time moves forward, so most
    decisions fall in it.
    """

    windows: tuple[TimeWindow, ...]
    _by_weekday: tuple[tuple[TimeWindow, ...], ...] = field(init=False, repr=False, compare=False)
    _always: bool = field(init=False, repr=False, compare=False)
    _memo: dict[tuple[date, tzinfo], tuple[_Interval, ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _last: dict[tzinfo, tuple[datetime, datetime, WindowStatus, WindowStatus]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        by_day = tuple(tuple(w for w in self.windows if w.weekday == d) for d in range(7))
        object.__setattr__(self, "_by_weekday", by_day)
        object.__setattr__(self, "_always", _covers_whole_week(self.windows))

    @classmethod
    def every_day(cls, start: time, end: time) -> WeeklySchedule:
        """The same window on all seven days."""
        return cls(tuple(TimeWindow(d, start, end) for d in range(7)))

    @property
    def always(self) -> bool:
        """True when the windows cover every wall-clock second of the week."""
        return self._always

    def occurrences(self, day: date, tz: tzinfo) -> tuple[_Interval, ...]:
        """The non-empty intervals of the windows opening on local `day`."""
        found = self._memo.get((day, tz))
        if found is None:
            if len(self._memo) >= _MEMO_SIZE:
                self._memo.clear()
            windows = self._by_weekday[day.weekday()]
            intervals = (window.occurrence(day, tz) for window in windows)
            found = self._memo[day, tz] = tuple(i for i in intervals if i is not None)
        return found


def _covers_whole_week(windows: tuple[TimeWindow, ...]) -> bool:
    spans: list[tuple[int, int]] = []
    for w in windows:
        begin = w.weekday * 86400 + _seconds(w.start)
        length = (_seconds(w.end) - _seconds(w.start)) % 86400 or 86400
        end = begin + length
        spans.append((begin, min(end, _WEEK_SECONDS)))
        if end > _WEEK_SECONDS:
            spans.append((0, end - _WEEK_SECONDS))
    reached = 0
    for begin, end in sorted(spans):
        if begin > reached:
            return False
        reached = max(reached, end)
    return reached >= _WEEK_SECONDS


@dataclass(frozen=True, slots=True)
class WindowStatus:
    """Where `now` stands against a schedule.

    Inside: `until` is the end of the allowed stretch holding `now`. Outside:
    `until` is the next instant the schedule opens. `None` in either case when
    that instant is not before the horizon asked for.
    """

    inside: bool
    until: datetime | None


def window_status(
    schedule: WeeklySchedule,
    now: datetime,
    tz: tzinfo,
    *,
    horizon: datetime | None = None,
) -> WindowStatus:
    """Is `now` inside `schedule` in zone `tz`, and until when.

    `horizon` bounds the search (default: 8 days after `now`); the engine
    passes the earliest other expiry, since a later window end cannot matter.

    An instant found (a stretch's end, the next opening) does not depend on
    the horizon, only whether it is reported; and every instant from `now`
    until it has the same status. So it is remembered (`WeeklySchedule`) and
    answers later calls that fall before it.
    """
    if schedule.always:
        return WindowStatus(True, None)
    limit = horizon if horizon is not None else now + _DEFAULT_HORIZON
    last = schedule._last.get(tz)
    if last is None or not last[0] <= now < last[1]:
        inside, found = _status(schedule, now, tz, limit)
        if found is None:
            return WindowStatus(inside, None)
        # In UTC: aware datetimes of one zone compare by wall time, blind to DST folds.
        asked = now.astimezone(UTC)
        last = (asked, found, WindowStatus(inside, found), WindowStatus(inside, None))
        schedule._last[tz] = last
    _, until, status, beyond = last
    return status if until < limit else beyond


def _status(
    schedule: WeeklySchedule, now: datetime, tz: tzinfo, limit: datetime
) -> tuple[bool, datetime | None]:
    today = local_date(now, tz)
    occurrences = [*schedule.occurrences(today - _DAY, tz), *schedule.occurrences(today, tz)]
    ends = [closes for opens, closes in occurrences if opens <= now < closes]
    if not ends:
        return False, _next_opening(schedule, now, tz, today, limit)
    return True, _stretch_end(schedule, max(ends), tz, today, occurrences, limit)


def _stretch_end(
    schedule: WeeklySchedule,
    end: datetime,
    tz: tzinfo,
    generated: date,
    occurrences: list[tuple[datetime, datetime]],
    limit: datetime,
) -> datetime | None:
    """Follow windows that open at or before `end` and close after it."""
    while end < limit:
        last_day = local_date(end, tz)
        while generated < last_day:
            generated += _DAY
            occurrences.extend(schedule.occurrences(generated, tz))
        later = [closes for opens, closes in occurrences if opens <= end < closes]
        if not later:
            return end
        end = max(later)
    return None


def _next_opening(
    schedule: WeeklySchedule, now: datetime, tz: tzinfo, today: date, limit: datetime
) -> datetime | None:
    day = today
    while True:
        opens = [o for o, _ in schedule.occurrences(day, tz) if o > now]
        if opens:
            first = min(opens)
            return first if first < limit else None
        if local_instant(day, time(0), tz) >= limit or day > today + timedelta(days=7):
            return None
        day += _DAY
