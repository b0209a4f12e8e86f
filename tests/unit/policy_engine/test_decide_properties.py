"""Properties of `decide`: an Accepted never outlives the rule that allowed it."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.policy_engine import (
    Policy,
    Rule,
    StationInfo,
    TimeWindow,
    Validity,
    WeeklySchedule,
    window_status,
)

from .builders import PARIS, ask, make_member, make_snapshot, make_token, org_scope
from .strategies import dst_instants, instants, schedules

NEW_YORK_STATION = "CP-NY"
lifetimes = st.integers(1, 72 * 60).map(lambda m: timedelta(minutes=m))
offsets = st.one_of(st.none(), st.integers(-600, 4 * 24 * 60).map(lambda m: timedelta(minutes=m)))


def _later(now: datetime, offset: timedelta | None) -> datetime | None:
    return None if offset is None else now + offset


@settings(max_examples=300)
@given(
    schedules,
    st.one_of(instants, dst_instants),
    lifetimes,
    offsets,
    offsets,
    offsets,
)
def test_accepted_expiry_is_the_earliest_bound(
    schedule: WeeklySchedule,
    now: datetime,
    lifetime: timedelta,
    token_offset: timedelta | None,
    member_offset: timedelta | None,
    policy_offset: timedelta | None,
) -> None:
    """Expiry <= token expiry, membership end, policy end, window end, now + lifetime
    (now in whole seconds); and equal to the earliest of them."""
    token_expiry = _later(now, token_offset)
    member_end = _later(now, member_offset)
    policy_end = _later(now, policy_offset)
    snapshot = make_snapshot(
        token=make_token(expires_at=token_expiry),
        member=make_member(valid_until=member_end),
        policies={org_scope(): Policy(hours=schedule, validity=Validity(valid_until=policy_end))},
    )
    decision = ask(snapshot, now, lifetime=lifetime)
    window = window_status(schedule, now, PARIS)
    cache_end = now.replace(microsecond=0) + lifetime
    if not decision.accepted:
        assert decision.expires_at is not None and now < decision.expires_at <= cache_end
        return
    assert window.inside
    bounds = [cache_end]
    bounds += [b for b in (token_expiry, member_end, policy_end, window.until) if b is not None]
    assert decision.expires_at == min(bounds)
    assert decision.expires_at > now
    assert decision.expires_at.tzinfo is UTC


@settings(max_examples=200)
@given(schedules, st.one_of(instants, dst_instants), lifetimes, st.integers(0, 999_999))
def test_the_same_question_within_one_second_gets_the_same_answer(
    schedule: WeeklySchedule, now: datetime, lifetime: timedelta, microseconds: int
) -> None:
    """A retried Authorize a few milliseconds later is answered identically (expiry too)."""
    snapshot = make_snapshot(policies={org_scope(): Policy(hours=schedule)})
    second = now.replace(microsecond=0)
    first = ask(snapshot, second, lifetime=lifetime)
    assert ask(snapshot, second.replace(microsecond=microseconds), lifetime=lifetime) == first


@settings(max_examples=200)
@given(schedules, st.one_of(instants, dst_instants), lifetimes)
def test_every_instant_before_expiry_is_still_allowed(
    schedule: WeeklySchedule, now: datetime, lifetime: timedelta
) -> None:
    """A charger trusting its cache until expiry never lets a badge charge out of hours."""
    snapshot = make_snapshot(policies={org_scope(): Policy(hours=schedule)})
    decision = ask(snapshot, now, lifetime=lifetime)
    if not decision.accepted:
        return
    assert decision.expires_at is not None
    span = decision.expires_at - now
    for step in range(20):
        assert ask(snapshot, now + span * step / 20, lifetime=lifetime).accepted


def test_hours_are_read_in_the_station_zone() -> None:
    """A New York station of a Paris organisation applies its hours in New York time."""
    new_york = ZoneInfo("America/New_York")
    office = WeeklySchedule.every_day(time(8), time(18))
    snapshot = make_snapshot(
        policies={org_scope(): Policy(hours=office)},
        stations=[StationInfo("CP-1", 1, tz=new_york), StationInfo("CP-2", 1)],
    )
    at_9_in_paris = datetime(2024, 6, 12, 9, 0, tzinfo=PARIS)  # 03:00 in New York
    assert ask(snapshot, at_9_in_paris, station="CP-2").accepted
    refused = ask(snapshot, at_9_in_paris)
    assert refused.reason.rule == Rule.POLICY_HOURS
    assert refused.expires_at == datetime(2024, 6, 12, 8, 0, tzinfo=new_york)


def test_overnight_acceptance_on_the_dst_nights_expires_at_the_real_window_end() -> None:
    night = WeeklySchedule((TimeWindow(5, time(22), time(6)),))
    snapshot = make_snapshot(policies={org_scope(): Policy(hours=night)})
    spring = ask(snapshot, datetime(2024, 3, 30, 23, tzinfo=PARIS), lifetime=timedelta(days=1))
    autumn = ask(snapshot, datetime(2024, 10, 26, 23, tzinfo=PARIS), lifetime=timedelta(days=1))
    assert spring.expires_at == datetime(2024, 3, 31, 4, 0, tzinfo=UTC)  # 06:00 CEST
    assert autumn.expires_at == datetime(2024, 10, 27, 5, 0, tzinfo=UTC)  # 06:00 CET
