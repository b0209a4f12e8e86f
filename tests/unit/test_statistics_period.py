"""Statistics, the pure parts: the period asked for (dates in the organisation's time zone,
defaults), sessions per week, the weekly breakdown, CSV rows."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from gateway.members.errors import Invalid
from gateway.members.statistics import by_week, period, to_csv, usage_fields, zone
from gateway.store.statistics import Session, Usage

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def test_the_default_is_the_current_calendar_month_in_the_organisations_zone() -> None:
    span = period(None, None, PARIS, NOW)
    assert iso(span.since) == "2026-10-31T23:00:00+00:00"  # 1 November, 00:00 in Paris (CET)
    assert iso(span.until) == "2026-11-30T23:00:00+00:00"
    late = period(None, None, PARIS, datetime(2026, 11, 30, 23, 30, tzinfo=UTC))
    assert iso(late.since) == "2026-11-30T23:00:00+00:00"  # already December in Paris


def test_dates_are_whole_days_both_included() -> None:
    span = period("2026-10-01", "2026-10-31", PARIS, NOW)
    assert iso(span.since) == "2026-09-30T22:00:00+00:00"  # CEST
    assert iso(span.until) == "2026-10-31T23:00:00+00:00"  # the day after, CET
    assert round(span.weeks, 3) == round(31 / 7, 3)


def test_date_times_are_exact_and_local_without_an_offset() -> None:
    span = period("2026-10-01T06:00:00Z", "2026-10-01T10:00", PARIS, NOW)
    assert iso(span.since) == "2026-10-01T06:00:00+00:00"
    assert iso(span.until) == "2026-10-01T08:00:00+00:00"  # 10:00 in Paris


def test_one_bound_only() -> None:
    since_only = period("2026-11-20", None, PARIS, NOW)
    assert since_only.until == NOW
    until_only = period(None, "2026-10-15", PARIS, NOW)
    assert iso(until_only.since) == "2026-09-30T22:00:00+00:00"  # start of October


def test_sessions_per_week_count_only_the_elapsed_part() -> None:
    span = period(None, None, PARIS, NOW)  # 22 days and 11 hours of November elapsed
    fields = usage_fields(Usage(sessions=10, energy_wh=12345, cost=99), span.weeks, "EUR")
    assert fields["sessions_per_week"] == round(10 / span.weeks, 2)
    assert fields["energy_kwh"] == 12.345 and fields["currency"] == "EUR"
    future = period("2027-01-01", "2027-01-31", PARIS, NOW)
    assert future.weeks == 0
    assert usage_fields(Usage(), future.weeks, "EUR")["sessions_per_week"] == 0.0


@pytest.mark.parametrize(
    ("since", "until", "field"),
    [
        ("yesterday", None, "since"),
        (None, "2026-02-30", "until"),
        ("2026-10-10", "2026-10-09", "since"),
        ("2026-12-01", None, "since"),  # since only: until now, which is before
    ],
)
def test_bad_bounds_name_their_field(since: str | None, until: str | None, field: str) -> None:
    with pytest.raises(Invalid) as caught:
        period(since, until, PARIS, NOW)
    assert caught.value.field == field


def test_the_weekly_breakdown_uses_local_iso_weeks() -> None:
    sessions = [
        Session("2026-10-04T21:30:00.000000Z", 1000, 10),  # Sunday 23:30 in Paris: week 40
        Session("2026-10-04T22:30:00.000000Z", 2000, 20),  # Monday 00:30 in Paris: week 41
        Session("2026-10-05T10:00:00.000000Z", 500, 5),
    ]
    assert by_week(sessions, PARIS) == [
        {"week": "2026-W40", "sessions": 1, "energy_kwh": 1.0, "cost": 10},
        {"week": "2026-W41", "sessions": 2, "energy_kwh": 2.5, "cost": 25},
    ]
    assert by_week(sessions, ZoneInfo("UTC"))[0]["sessions"] == 2


def test_csv_rows_join_lists_and_blank_nones() -> None:
    data = to_csv(("id", "stations", "email"), [{"id": 1, "stations": ["A", "B"], "email": None}])
    assert list(csv.reader(io.StringIO(data.decode()))) == [
        ["id", "stations", "email"],
        ["1", "A;B", ""],
    ]


def test_an_unknown_time_zone_falls_back_to_utc() -> None:
    assert zone("Mars/Olympus").key == "UTC"
