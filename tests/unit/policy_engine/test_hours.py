"""Allowed hours: weekly windows, overnight windows, chained windows, DST."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta, tzinfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.policy_engine import TimeWindow, WeeklySchedule, window_status

from .builders import PARIS
from .strategies import (
    SAT,
    SUN,
    dst_instants,
    dst_zones,
    instants,
    quarter_hours,
    schedules,
    weekdays,
)

MON, TUE, WED, THU, FRI = range(5)


def at(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, *, fold: int = 0
) -> datetime:
    """A Paris wall-clock time; `fold=1` picks the second pass of an autumn overlap."""
    return datetime(year, month, day, hour, minute, tzinfo=PARIS, fold=fold)


def _length(schedule: WeeklySchedule, opened: datetime) -> timedelta:
    until = window_status(schedule, opened, PARIS).until
    assert until is not None
    return until - opened


def wall_inside(schedule: WeeklySchedule, local: datetime) -> bool:
    """Oracle: is the wall-clock reading `local` inside a window (no DST reasoning)."""
    day, clock = local.weekday(), local.time().replace(tzinfo=None, fold=0)
    for w in schedule.windows:
        if not w.overnight:
            if w.weekday == day and w.start <= clock < w.end:
                return True
        elif (w.weekday == day and clock >= w.start) or (
            (w.weekday + 1) % 7 == day and clock < w.end
        ):
            return True
    return False


# ---- examples ------------------------------------------------------------------


def test_same_day_window() -> None:
    office = WeeklySchedule((TimeWindow(WED, time(8), time(18)),))
    assert window_status(office, at(2024, 6, 12, 12), PARIS).until == at(2024, 6, 12, 18)
    assert not window_status(office, at(2024, 6, 12, 18), PARIS).inside
    assert not window_status(office, at(2024, 6, 12, 7, 59), PARIS).inside


def test_overnight_window_belongs_to_the_day_it_opens() -> None:
    """Friday 22:00–06:00 allows Saturday 05:00, not Friday 05:00."""
    night = WeeklySchedule((TimeWindow(FRI, time(22), time(6)),))
    saturday_early = window_status(night, at(2024, 6, 15, 5), PARIS)
    assert saturday_early.inside
    assert saturday_early.until == at(2024, 6, 15, 6)
    assert not window_status(night, at(2024, 6, 14, 5), PARIS).inside
    assert window_status(night, at(2024, 6, 14, 23), PARIS).inside


def test_overnight_window_across_the_week_boundary() -> None:
    """Sunday 22:00–06:00 reaches into Monday of the next ISO week."""
    night = WeeklySchedule((TimeWindow(SUN, time(22), time(6)),))
    assert window_status(night, at(2024, 6, 17, 3), PARIS).until == at(2024, 6, 17, 6)
    assert not window_status(night, at(2024, 6, 18, 3), PARIS).inside


def test_window_ending_at_midnight_and_whole_day_window() -> None:
    evening = WeeklySchedule((TimeWindow(WED, time(18), time(0)),))
    assert window_status(evening, at(2024, 6, 12, 23, 59), PARIS).until == at(2024, 6, 13)
    whole = WeeklySchedule((TimeWindow(WED, time(7), time(7)),))
    assert window_status(whole, at(2024, 6, 13, 6, 59), PARIS).until == at(2024, 6, 13, 7)


def test_touching_windows_chain_into_one_stretch() -> None:
    """Expiry is the end of the whole allowed stretch, not of the first window."""
    chained = WeeklySchedule(
        (
            TimeWindow(WED, time(8), time(12)),
            TimeWindow(WED, time(12), time(20)),
            TimeWindow(WED, time(19), time(2)),
        )
    )
    assert window_status(chained, at(2024, 6, 12, 9), PARIS).until == at(2024, 6, 13, 2)


def test_every_day_all_day_is_always_and_never_ends() -> None:
    always = WeeklySchedule.every_day(time(0), time(0))
    assert always.always
    status = window_status(always, at(2024, 3, 31, 1, 30), PARIS)
    assert status.inside
    assert status.until is None
    assert not WeeklySchedule.every_day(time(0), time(23, 59)).always


def test_empty_schedule_never_opens() -> None:
    closed = WeeklySchedule(())
    status = window_status(closed, at(2024, 6, 12, 12), PARIS)
    assert not status.inside
    assert status.until is None


def test_stretch_longer_than_horizon_reports_none() -> None:
    weekdays = WeeklySchedule(tuple(TimeWindow(d, time(0), time(0)) for d in range(5)))
    now = at(2024, 6, 10, 9)
    assert window_status(weekdays, now, PARIS).until == at(2024, 6, 15)
    assert window_status(weekdays, now, PARIS, horizon=now + timedelta(hours=1)).until is None


def test_next_opening_when_outside() -> None:
    office = WeeklySchedule(tuple(TimeWindow(d, time(8), time(18)) for d in range(5)))
    status = window_status(office, at(2024, 6, 14, 19), PARIS)  # Friday evening
    assert not status.inside
    assert status.until == at(2024, 6, 17, 8)  # Monday morning


def test_invalid_windows_are_rejected() -> None:
    with pytest.raises(ValueError, match="weekday"):
        TimeWindow(7, time(8), time(9))
    with pytest.raises(ValueError, match="wall-clock"):
        TimeWindow(MON, time(8, tzinfo=UTC), time(9))


# ---- Europe/Paris DST -------------------------------------------------------------
# 2024-03-31: 02:00 CET -> 03:00 CEST (gap). 2024-10-27: 03:00 CEST -> 02:00 CET (overlap).


def test_spring_window_ending_in_the_gap_ends_at_the_transition() -> None:
    night = WeeklySchedule((TimeWindow(SAT, time(22), time(2, 30)),))
    status = window_status(night, at(2024, 3, 31, 1, 59), PARIS)
    assert status.until == datetime(2024, 3, 31, 1, 0, tzinfo=UTC)  # 03:00 CEST
    assert not window_status(night, at(2024, 3, 31, 3, 0), PARIS).inside


def test_spring_window_opening_in_the_gap_opens_at_the_transition() -> None:
    early = WeeklySchedule((TimeWindow(SUN, time(2, 30), time(6)),))
    assert window_status(early, at(2024, 3, 31, 3, 0), PARIS).inside
    status = window_status(early, at(2024, 3, 31, 1, 59), PARIS)
    assert not status.inside
    assert status.until == datetime(2024, 3, 31, 1, 0, tzinfo=UTC)


def test_spring_window_wholly_in_the_gap_does_not_open() -> None:
    lost = WeeklySchedule((TimeWindow(SUN, time(2, 0), time(2, 45)),))
    for minute in range(0, 120, 5):
        instant = datetime(2024, 3, 31, 0, 0, tzinfo=UTC) + timedelta(minutes=minute)
        assert not window_status(lost, instant, PARIS).inside


def test_spring_overnight_window_is_one_hour_shorter() -> None:
    night = WeeklySchedule((TimeWindow(SAT, time(22), time(6)),))
    opened = at(2024, 3, 30, 22)
    assert _length(night, opened) == timedelta(hours=7)


def test_autumn_overnight_window_is_one_hour_longer() -> None:
    night = WeeklySchedule((TimeWindow(SAT, time(22), time(6)),))
    opened = at(2024, 10, 26, 22)
    assert _length(night, opened) == timedelta(hours=9)


def test_autumn_window_ending_in_the_overlap_ends_at_its_first_occurrence() -> None:
    """22:00–02:30 ends at the first 02:30 (CEST); the repeated 02:15 (CET) is outside."""
    night = WeeklySchedule((TimeWindow(SAT, time(22), time(2, 30)),))
    status = window_status(night, at(2024, 10, 27, 2, 15), PARIS)
    assert status.until == datetime(2024, 10, 27, 0, 30, tzinfo=UTC)
    assert not window_status(night, at(2024, 10, 27, 2, 15, fold=1), PARIS).inside


def test_autumn_window_opening_in_the_overlap_opens_at_its_first_occurrence() -> None:
    early = WeeklySchedule((TimeWindow(SUN, time(2, 30), time(4)),))
    assert window_status(early, at(2024, 10, 27, 2, 30), PARIS).inside
    assert window_status(early, at(2024, 10, 27, 2, 10, fold=1), PARIS).inside
    assert not window_status(early, at(2024, 10, 27, 2, 10), PARIS).inside


# ---- properties ---------------------------------------------------------------------


def _comparable(instant: datetime, tz: tzinfo) -> bool:
    """Outside an autumn overlap's second pass, wall-clock and instant semantics agree."""
    return instant.astimezone(tz).fold == 0


@settings(max_examples=300)
@given(schedules, st.one_of(instants, dst_instants, dst_instants), dst_zones)
def test_inside_matches_the_wall_clock(schedule: WeeklySchedule, now: datetime, tz: tzinfo) -> None:
    """Inside iff the local wall clock reads a time inside a window of its weekday
    (or of the previous day's overnight window), DST gaps and overlaps included."""
    if _comparable(now, tz):
        assert window_status(schedule, now, tz).inside == wall_inside(schedule, now.astimezone(tz))


@settings(max_examples=200)
@given(schedules, st.one_of(instants, dst_instants, dst_instants), dst_zones)
def test_window_end_is_exact(schedule: WeeklySchedule, now: datetime, tz: tzinfo) -> None:
    """Inside: every instant up to `until` is allowed and `until` itself is not;
    outside: nothing is allowed before `until`, `until` is."""
    status = window_status(schedule, now, tz)
    if status.until is None:
        return
    span = status.until - now
    assert span > timedelta(0)
    for step in range(0, 41):
        probe = now + span * step / 40
        if probe < status.until:
            assert window_status(schedule, probe, tz).inside == status.inside
            if _comparable(probe, tz):
                assert wall_inside(schedule, probe.astimezone(tz)) == status.inside
    assert window_status(schedule, status.until, tz).inside != status.inside


@given(weekdays, quarter_hours, quarter_hours, st.one_of(instants, dst_instants))
def test_overnight_window_holds_the_early_hours_of_the_next_day(
    weekday: int, start: time, end: time, now: datetime
) -> None:
    """An overnight window (end <= start) allows the next day's wall times before `end`."""
    window = TimeWindow(weekday, start, end)
    schedule = WeeklySchedule((window,))
    local = now.astimezone(PARIS)
    if _comparable(now, PARIS) and window.overnight and local.weekday() == (weekday + 1) % 7:
        expected = local.time().replace(fold=0) < end
        assert window_status(schedule, now, PARIS).inside == expected
