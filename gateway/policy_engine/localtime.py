"""Wall-clock times to instants, with one rule for DST gaps and overlaps.

Hours windows and period boundaries are written in wall-clock time (08:00 on
a Monday, midnight on the 1st) in a time zone; the engine compares instants.
`local_instant` turns one into the other and is the only place that decides
what a wall time means around a DST change:

- a wall time that happens once maps to that instant;
- a wall time that happens twice (autumn overlap, e.g. 02:30 on the last
  Sunday of October in Europe/Paris) maps to its **first** occurrence
  (PEP 495 `fold=0`), the first time the clock shows it;
- a wall time that never happens (spring gap, e.g. 02:30 on the last Sunday
  of March in Europe/Paris) maps to the **end of the gap**, the transition
  instant (03:00 CEST there): the first instant at which the clock has passed
  that time.

All instants returned are timezone-aware UTC datetimes.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, tzinfo
from functools import lru_cache


@lru_cache(maxsize=8192)
def local_instant(day: date, wall: time, tz: tzinfo) -> datetime:
    """The UTC instant at which the clock in `tz` first reads `wall` on `day`.

    Memoised: the function is pure and the hot path asks for the same few
    window boundaries over and over.
    """
    naive = datetime.combine(day, wall)
    first = naive.replace(tzinfo=tz).astimezone(UTC)
    if first.astimezone(tz).replace(tzinfo=None) == naive:
        return first
    # In a gap: fold=1 reads `naive` with the offset after the change (an
    # instant before the transition), fold=0 with the offset before it (an
    # instant after). Bisect between them for the transition itself.
    before = naive.replace(tzinfo=tz, fold=1).astimezone(UTC)
    return _transition(before, first, tz)


def _transition(before: datetime, after: datetime, tz: tzinfo) -> datetime:
    """First whole second in (before, after] with the UTC offset `after` has."""
    offset_after = after.astimezone(tz).utcoffset()
    lo, hi = int(before.timestamp()), int(after.timestamp())
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, tz).utcoffset() == offset_after:
            hi = mid
        else:
            lo = mid
    return datetime.fromtimestamp(hi, UTC)


def local_midnight(day: date, tz: tzinfo) -> datetime:
    """The instant a local `day` begins in `tz` (see the gap rule above)."""
    return local_instant(day, time(0), tz)


def local_date(instant: datetime, tz: tzinfo) -> date:
    """The calendar date in `tz` at `instant` (which must be aware)."""
    return instant.astimezone(tz).date()
