"""Cap periods in the organisation's zone: day, ISO week, month, rolling N days."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.policy_engine import Period, PeriodKind, period_bounds, period_days

from .builders import PARIS

ZONES = [PARIS, ZoneInfo("America/Sao_Paulo"), ZoneInfo("Pacific/Auckland"), UTC]
instants = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
)
periods = st.one_of(
    st.sampled_from([Period.day(), Period.week(), Period.month()]),
    st.integers(1, 60).map(Period.rolling),
)


def test_week_starts_on_monday_midnight_in_the_org_zone() -> None:
    """Sunday 23:30 in Paris is still last week, although it is Sunday 21:30 UTC..."""
    sunday_late = datetime(2024, 6, 16, 23, 30, tzinfo=PARIS)
    start, end = period_bounds(Period.week(), sunday_late, PARIS)
    assert start == datetime(2024, 6, 10, tzinfo=PARIS)
    assert end == datetime(2024, 6, 17, tzinfo=PARIS)
    # ...and Monday 00:30 Paris (Sunday 22:30 UTC) is already the new week.
    monday_early = datetime(2024, 6, 16, 22, 30, tzinfo=UTC)
    assert period_bounds(Period.week(), monday_early, PARIS)[0] == end


def test_month_boundary_in_the_org_zone() -> None:
    """April starts at midnight Paris time, on March 31 at 22:00 UTC."""
    march_end = datetime(2024, 3, 31, 21, 59, tzinfo=UTC)
    april_start = datetime(2024, 3, 31, 22, 0, tzinfo=UTC)
    assert period_days(Period.month(), march_end.astimezone(PARIS).date()) == (
        date(2024, 3, 1),
        date(2024, 4, 1),
    )
    assert period_bounds(Period.month(), march_end, PARIS)[1] == april_start
    assert period_bounds(Period.month(), april_start, PARIS)[0] == april_start


def test_december_rolls_into_next_year() -> None:
    assert period_days(Period.month(), date(2024, 12, 31)) == (date(2024, 12, 1), date(2025, 1, 1))


def test_dst_days_are_23_and_25_hours_long() -> None:
    spring = period_bounds(Period.day(), datetime(2024, 3, 31, 12, tzinfo=PARIS), PARIS)
    autumn = period_bounds(Period.day(), datetime(2024, 10, 27, 12, tzinfo=PARIS), PARIS)
    assert spring[1] - spring[0] == timedelta(hours=23)
    assert autumn[1] - autumn[0] == timedelta(hours=25)


def test_rolling_days_are_today_and_the_days_before() -> None:
    assert period_days(Period.rolling(7), date(2024, 6, 12)) == (
        date(2024, 6, 6),
        date(2024, 6, 13),
    )
    assert str(Period.rolling(7)) == "rolling 7 days"


def test_midnight_in_a_dst_gap_starts_the_day_at_the_transition() -> None:
    """America/Sao_Paulo (2018) skipped 00:00-01:00: the day began at 01:00 local."""
    sao_paulo = ZoneInfo("America/Sao_Paulo")
    start, _ = period_bounds(Period.day(), datetime(2018, 11, 4, 12, tzinfo=UTC), sao_paulo)
    assert start == datetime(2018, 11, 4, 3, tzinfo=UTC)


def test_invalid_periods() -> None:
    with pytest.raises(ValueError):
        Period.rolling(0)
    with pytest.raises(ValueError):
        Period(PeriodKind.WEEK, 7)


@given(periods, instants, st.sampled_from(ZONES))
def test_period_holds_now_and_is_aligned(period: Period, now: datetime, tz: tzinfo) -> None:
    """start <= now < end; starts on local midnights, Mondays, 1sts as the kind says."""
    start, end = period_bounds(period, now, tz)
    assert start <= now < end
    first, last = period_days(period, now.astimezone(tz).date())
    if period.kind is PeriodKind.WEEK:
        assert first.weekday() == 0
        assert (last - first).days == 7
    elif period.kind is PeriodKind.MONTH:
        assert first.day == 1 and last.day == 1
        assert (first.year, first.month) == (now.astimezone(tz).year, now.astimezone(tz).month)
    else:
        assert (last - first).days == period.days
    assert first <= now.astimezone(tz).date() < last


@given(
    st.sampled_from([Period.day(), Period.week(), Period.month()]), instants, st.sampled_from(ZONES)
)
def test_calendar_periods_tile_time(period: Period, now: datetime, tz: tzinfo) -> None:
    """The period after this one starts exactly where this one ends."""
    _, end = period_bounds(period, now, tz)
    next_start, next_end = period_bounds(period, end, tz)
    assert next_start == end
    assert next_end > next_start
    assert period_bounds(period, end - timedelta(microseconds=1), tz)[1] == end
