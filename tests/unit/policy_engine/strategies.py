"""Hypothesis strategies shared by the policy engine tests."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from hypothesis import strategies as st

from gateway.policy_engine import TimeWindow, WeeklySchedule

from .builders import PARIS

SAT, SUN = 5, 6

ZONES = [
    PARIS,
    ZoneInfo("America/New_York"),
    ZoneInfo("Australia/Lord_Howe"),  # 30-minute DST shift
    timezone(timedelta(hours=5, minutes=30)),
    UTC,
]
# Quarter hours, often near the 02:00-03:00 DST hours; weekdays, often the
# Saturday/Sunday of the European changes (last Sunday of March/October).
quarter_hours = st.one_of(st.integers(0, 95), st.integers(7, 13)).map(
    lambda q: time(q // 4, (q % 4) * 15)
)
weekdays = st.one_of(st.integers(0, 6), st.sampled_from([SAT, SUN]))
windows = st.builds(TimeWindow, weekdays, quarter_hours, quarter_hours)
schedules = st.builds(WeeklySchedule, st.lists(windows, max_size=4).map(tuple))
instants = st.datetimes(
    min_value=datetime(2023, 1, 1), max_value=datetime(2026, 12, 31), timezones=st.just(UTC)
)
# The nights of the 2024 European DST changes, 20:00 UTC Saturday to 08:00 UTC Sunday.
dst_instants = st.sampled_from(
    [datetime(2024, 3, 30, 20, tzinfo=UTC), datetime(2024, 10, 26, 20, tzinfo=UTC)]
).flatmap(lambda base: st.integers(0, 12 * 60).map(lambda m: base + timedelta(minutes=m)))
dst_zones = st.sampled_from([PARIS, PARIS, *ZONES])
