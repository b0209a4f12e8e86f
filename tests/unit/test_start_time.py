"""When a session counts: the charger's start, believed within [received - 30 days, received]."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from gateway.policy_engine import counted_start
from gateway.policy_engine.start_time import MAX_START_AGE

INSTANTS = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


@given(INSTANTS, INSTANTS)
def test_a_start_is_counted_within_the_believed_window(
    reported: datetime, received: datetime
) -> None:
    counted = counted_start(reported, received)
    assert received - MAX_START_AGE <= counted <= received
    assert counted in (reported, received)
    believed = received - MAX_START_AGE <= reported <= received
    assert (counted == reported) is (believed or reported == received)
    assert counted_start(counted, received) == counted, "counting twice changes nothing"


@given(INSTANTS, st.timedeltas(min_value=timedelta(0), max_value=MAX_START_AGE))
def test_a_late_start_within_30_days_counts_when_it_happened(
    received: datetime, late: timedelta
) -> None:
    assert counted_start(received - late, received) == received - late


def test_the_edges() -> None:
    received = datetime(2027, 3, 28, 1, 0, tzinfo=UTC)
    assert counted_start(received + timedelta(microseconds=1), received) == received
    assert counted_start(received - MAX_START_AGE, received) == received - MAX_START_AGE
    too_old = received - MAX_START_AGE - timedelta(microseconds=1)
    assert counted_start(too_old, received) == received
