"""Every row of PRODUCT.md's decision table, with both OCPP version mappings.

Each scenario breaks exactly one rule; the decision must name that rule as
its reason, list it last (failed) in `checks` after the rules that passed,
and map to the 2.0.1 and 1.6 statuses of the table. StartTransaction /
TransactionEvent(Started) re-check the token with the same rules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

import pytest

from gateway.policy_engine import (
    AuthStatus,
    MemberStatus,
    MemberUsage,
    Period,
    PeriodCap,
    Policy,
    Purpose,
    Reason,
    Rule,
    Snapshot,
    StationScope,
    TokenStatus,
    TokenType,
    TokenTypeMatch,
    Validity,
    WeeklySchedule,
    start_session,
)

from .builders import (
    GROUP_TOKEN,
    LIFETIME,
    MEMBER_ID,
    NOW,
    PARIS,
    TOKEN,
    ask,
    make_member,
    make_snapshot,
    make_token,
    org_scope,
    session_start,
    settled_usage,
)


@dataclass
class Row:
    name: str
    snapshot: Callable[[], Snapshot]
    status_201: str
    status_16: str
    rule: Rule
    usage: Callable[[], dict[int, MemberUsage]] = field(default=dict)
    token: str = TOKEN
    station: str = "CP-1"
    token_type: TokenType | None = None


def _policy(**rules: object) -> Callable[[], Snapshot]:
    return lambda: make_snapshot(policies={org_scope(): Policy(**rules)})  # type: ignore[arg-type]


def _running(count: int) -> dict[int, MemberUsage]:
    usage = MemberUsage()
    for i in range(count):
        usage = start_session(usage, session_start(f"tx-{i}"), PARIS)
    return {MEMBER_ID: usage}


DAY = Period.day()
ROWS = [
    Row("token unknown", make_snapshot, "Unknown", "Invalid", Rule.TOKEN_KNOWN, token="FFFF"),
    Row(
        "token of another type, the organisation matching types strictly (2.0.1 IdTokenType)",
        lambda: make_snapshot(token_type_match=TokenTypeMatch.STRICT),
        "Unknown",
        "Invalid",
        Rule.TOKEN_KNOWN,
        token_type=TokenType.CENTRAL,
    ),
    Row(
        "token blocked",
        lambda: make_snapshot(token=make_token(status=TokenStatus.BLOCKED)),
        "Blocked",
        "Blocked",
        Rule.TOKEN_STATUS,
    ),
    Row(
        "token lost",
        lambda: make_snapshot(token=make_token(status=TokenStatus.LOST)),
        "Blocked",
        "Blocked",
        Rule.TOKEN_STATUS,
    ),
    Row(
        "member deactivated",
        lambda: make_snapshot(member=make_member(status=MemberStatus.INACTIVE)),
        "Blocked",
        "Blocked",
        Rule.MEMBER_STATUS,
    ),
    Row(
        "token expired",
        lambda: make_snapshot(token=make_token(expires_at=NOW - timedelta(seconds=1))),
        "Expired",
        "Expired",
        Rule.TOKEN_EXPIRY,
    ),
    Row(
        "token expiring exactly now",
        lambda: make_snapshot(token=make_token(expires_at=NOW)),
        "Expired",
        "Expired",
        Rule.TOKEN_EXPIRY,
    ),
    Row(
        "membership expired",
        lambda: make_snapshot(member=make_member(valid_until=NOW - timedelta(days=1))),
        "Expired",
        "Expired",
        Rule.MEMBER_VALIDITY,
    ),
    Row(
        "member invited, not yet active",
        lambda: make_snapshot(member=make_member(status=MemberStatus.PENDING)),
        "Invalid",
        "Invalid",
        Rule.MEMBER_ACTIVATION,
    ),
    Row(
        "station not in the allowed stations",
        _policy(stations=StationScope(stations=frozenset({"CP-2"}))),
        "NotAtThisLocation",
        "Invalid",
        Rule.POLICY_STATIONS,
    ),
    Row(
        "station not in the allowed sites",
        _policy(stations=StationScope(sites=frozenset({11}))),
        "NotAtThisLocation",
        "Invalid",
        Rule.POLICY_STATIONS,
    ),
    Row(
        "station of another organisation",
        make_snapshot,
        "NotAtThisLocation",
        "Invalid",
        Rule.STATION_ORGANISATION,
        station="CP-X",
    ),
    Row(
        "station unknown",
        make_snapshot,
        "NotAtThisLocation",
        "Invalid",
        Rule.STATION_ORGANISATION,
        station="CP-404",
    ),
    Row(
        "outside the allowed hours",
        _policy(hours=WeeklySchedule.every_day(time(22), time(6))),
        "NotAtThisTime",
        "Invalid",
        Rule.POLICY_HOURS,
    ),
    Row(
        "policy not yet valid",
        _policy(validity=Validity(valid_from=NOW + timedelta(days=1))),
        "NotAtThisTime",
        "Invalid",
        Rule.POLICY_VALIDITY,
    ),
    Row(
        "policy validity over",
        _policy(validity=Validity(valid_until=NOW)),
        "Expired",
        "Expired",
        Rule.POLICY_VALIDITY,
    ),
    Row(
        "amount spent in the period reached the cap",
        _policy(amount_caps=(PeriodCap(1000, Period.month()),)),
        "NoCredit",
        "Blocked",
        Rule.CAP_AMOUNT,
        usage=lambda: settled_usage(amount=1000),
    ),
    Row(
        "energy in the period reached the cap",
        _policy(energy_caps=(PeriodCap(50_000, Period.week()),)),
        "NoCredit",
        "Blocked",
        Rule.CAP_ENERGY,
        usage=lambda: settled_usage(energy_wh=50_000),
    ),
    Row(
        "sessions started in the period reached the cap",
        _policy(session_caps=(PeriodCap(2, DAY),)),
        "NotAtThisTime",
        "Blocked",
        Rule.CAP_SESSIONS,
        usage=lambda: settled_usage(sessions=2),
    ),
    Row(
        "already in a running session",
        _policy(max_concurrent=1),
        "ConcurrentTx",
        "ConcurrentTx",
        Rule.CAP_CONCURRENT,
        usage=lambda: _running(1),
    ),
]


@pytest.mark.parametrize("purpose", list(Purpose))
@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_decision_table_row(row: Row, purpose: Purpose) -> None:
    """The row's rule refuses, with the table's status in both OCPP versions."""
    decision = ask(
        row.snapshot(),
        usage=row.usage(),
        token=row.token,
        station=row.station,
        purpose=purpose,
        token_type=row.token_type,
    )
    assert decision.status is not AuthStatus.ACCEPTED
    assert decision.ocpp201_status() == row.status_201
    assert decision.ocpp16_status() == row.status_16
    assert decision.reason.rule == row.rule
    assert decision.checks[-1] == decision.reason
    assert decision.reason.passed is False
    assert all(check.passed for check in decision.checks[:-1])
    assert decision.expires_at is not None
    assert NOW < decision.expires_at <= NOW + LIFETIME


def test_accepted_carries_group_member_and_expiry() -> None:
    """An Accepted names the member, the organisation's group token, an expiry."""
    decision = ask(make_snapshot())
    assert decision.accepted
    assert (decision.ocpp201_status(), decision.ocpp16_status()) == ("Accepted", "Accepted")
    assert decision.group_id == GROUP_TOKEN
    assert decision.member_id == MEMBER_ID
    assert decision.expires_at == NOW + LIFETIME
    assert decision.reason.rule == Rule.ACCEPTED
    assert [c.rule for c in decision.checks] == [
        Rule.TOKEN_KNOWN,
        Rule.TOKEN_STATUS,
        Rule.MEMBER_STATUS,
        Rule.TOKEN_EXPIRY,
        Rule.MEMBER_VALIDITY,
        Rule.MEMBER_ACTIVATION,
        Rule.STATION_ORGANISATION,
        Rule.POLICY_VALIDITY,
        Rule.POLICY_STATIONS,
        Rule.POLICY_HOURS,
        Rule.CAP_AMOUNT,
        Rule.CAP_ENERGY,
        Rule.CAP_SESSIONS,
        Rule.CAP_CONCURRENT,
    ]


def test_by_value_a_token_of_another_type_is_the_same_token() -> None:
    """Matching by value (the default), the type presented is a hint: shown, not refused."""
    decision = ask(make_snapshot(), token_type=TokenType.LOCAL)  # stored as ISO14443
    assert decision.accepted
    assert decision.checks[0] == Reason(Rule.TOKEN_KNOWN, "ISO14443", "Local", passed=True)
    assert ask(make_snapshot(), token_type=TokenType.ISO14443).checks[0].limit is None


def test_token_compared_case_insensitively() -> None:
    """OCPP idTags are case-insensitive: a lower-case read of the badge is the same badge."""
    assert ask(make_snapshot(), token=TOKEN.lower()).accepted


def test_allowed_site_admits_its_stations() -> None:
    snapshot = make_snapshot(
        policies={org_scope(): Policy(stations=StationScope(sites=frozenset({10})))}
    )
    assert ask(snapshot).accepted
    assert ask(snapshot, station="CP-2").reason.rule == Rule.POLICY_STATIONS


def test_first_failing_rule_in_table_order_decides() -> None:
    """Blocked before Expired before Pending: the earliest rule in the order wins."""
    blocked_and_expired = make_snapshot(
        token=make_token(status=TokenStatus.BLOCKED, expires_at=NOW - timedelta(days=1))
    )
    assert ask(blocked_and_expired).reason.rule == Rule.TOKEN_STATUS
    expired_and_pending = make_snapshot(
        token=make_token(expires_at=NOW - timedelta(days=1)),
        member=make_member(status=MemberStatus.PENDING),
    )
    assert ask(expired_and_pending).reason.rule == Rule.TOKEN_EXPIRY


def test_unknown_token_carries_no_member_nor_group() -> None:
    decision = ask(make_snapshot(), token="nobody")
    assert decision.member_id is None
    assert decision.group_id is None


def test_hours_refusal_expires_at_next_opening() -> None:
    """A refused-by-hours answer is not cached past the moment the window opens."""
    snapshot = make_snapshot(
        policies={org_scope(): Policy(hours=WeeklySchedule.every_day(time(18), time(6)))}
    )
    decision = ask(snapshot)
    assert decision.status is AuthStatus.NOT_AT_THIS_TIME
    assert decision.expires_at == datetime(2024, 6, 12, 18, 0, tzinfo=PARIS)


def test_cap_refusal_expires_at_period_end() -> None:
    """A day cap refusal is not cached past local midnight, when the day resets."""
    snapshot = make_snapshot(policies={org_scope(): Policy(session_caps=(PeriodCap(1, DAY),))})
    decision = ask(snapshot, usage=settled_usage(sessions=1), lifetime=timedelta(days=3))
    assert decision.expires_at == datetime(2024, 6, 13, 0, 0, tzinfo=PARIS)


def test_naive_now_is_refused_loudly() -> None:
    with pytest.raises(ValueError, match="aware"):
        ask(make_snapshot(), now=NOW.replace(tzinfo=None))
