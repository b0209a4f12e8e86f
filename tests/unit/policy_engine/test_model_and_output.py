"""Snapshot building, token normalisation, tariffs, OCPP status mapping, `explain`."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.policy_engine import (
    AuthStatus,
    Decision,
    MemberInfo,
    OrganisationInfo,
    Period,
    PeriodCap,
    Policy,
    Reason,
    Rule,
    Snapshot,
    StationInfo,
    Tariff,
    TokenInfo,
    TokenType,
    explain,
    normalize_token,
)

from .builders import PARIS, TARIFF, TOKEN, ask, make_snapshot, org_scope, settled_usage

ORG = OrganisationInfo(1, "Org", PARIS, "EUR", TARIFF)
MEMBER = MemberInfo(7, 1, "Ada", "Lovelace", "ada@example.org")


@given(st.text(alphabet="0123456789abcdefABCDEF", min_size=1, max_size=20))
def test_token_lookup_ignores_case(value: str) -> None:
    snapshot = Snapshot.build(
        organisations=[ORG], members=[MEMBER], tokens=[TokenInfo(value, TokenType.ISO14443, 7)]
    )
    assert snapshot.token(value.upper()) is snapshot.token(value.lower()) is not None
    assert normalize_token(value.upper()) == normalize_token(value.lower())


def test_token_whitespace_is_significant() -> None:
    assert normalize_token(" ab") != normalize_token("ab")


def test_build_rejects_dangling_references_and_duplicate_tokens() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        Snapshot.build(
            organisations=[ORG],
            members=[MEMBER],
            tokens=[TokenInfo("AB", TokenType.ISO14443, 7), TokenInfo("ab", TokenType.LOCAL, 7)],
        )
    with pytest.raises(ValueError, match="unknown member"):
        Snapshot.build(organisations=[ORG], tokens=[TokenInfo("AB", TokenType.ISO14443, 8)])
    with pytest.raises(ValueError, match="unknown organisation"):
        Snapshot.build(organisations=[ORG], stations=[StationInfo("CP", 2)])


def test_station_tariff_overrides_the_organisation() -> None:
    own = Tariff(Decimal("40"), session_fee=100)
    snapshot = make_snapshot(
        stations=[StationInfo("CP-1", 1), StationInfo("CP-fast", 1, tariff=own)]
    )
    assert snapshot.tariff_for("CP-1") == TARIFF
    assert snapshot.tariff_for("CP-fast") == own
    assert snapshot.tariff_for("CP-404") is None


@pytest.mark.parametrize(
    ("price", "fee", "energy_wh", "cost"),
    [
        ("25", 0, 0, 0),
        ("25", 50, 0, 50),
        ("25", 0, 10_000, 250),
        ("25.9", 0, 1_000, 26),  # 25.9 rounds half up
        ("0.5", 0, 1_000, 1),  # 0.5 -> 1
        ("0.4", 0, 1_000, 0),
        ("25", 0, -5, 0),  # a meter going backwards never refunds
    ],
)
def test_tariff_cost(price: str, fee: int, energy_wh: int, cost: int) -> None:
    assert Tariff(Decimal(price), fee).cost(energy_wh) == cost


def test_invalid_tariff_and_caps() -> None:
    with pytest.raises(ValueError):
        Tariff(Decimal("-1"))
    with pytest.raises(ValueError):
        PeriodCap(-1, Period.day())
    with pytest.raises(ValueError):
        PeriodCap(10, Period.day(), hold=0)


def test_only_the_sessions_cap_folds_not_at_this_time_to_blocked_in_16() -> None:
    sessions = Decision(AuthStatus.NOT_AT_THIS_TIME, Reason(Rule.CAP_SESSIONS))
    hours = Decision(AuthStatus.NOT_AT_THIS_TIME, Reason(Rule.POLICY_HOURS))
    assert (sessions.ocpp201_status(), sessions.ocpp16_status()) == ("NotAtThisTime", "Blocked")
    assert (hours.ocpp201_status(), hours.ocpp16_status()) == ("NotAtThisTime", "Invalid")


def test_reason_as_dict_is_flat_strings() -> None:
    reason = Reason(Rule.CAP_AMOUNT, "1000 per day (default)", "1000 minor units", passed=False)
    assert reason.as_dict() == {
        "rule": "cap.amount",
        "limit": "1000 per day (default)",
        "value": "1000 minor units",
        "passed": "false",
    }
    assert Reason("x").as_dict() == {"rule": "x"}


def test_explain_lists_every_check_with_its_values_and_never_the_token() -> None:
    snapshot = make_snapshot(
        policies={org_scope(): Policy(amount_caps=(PeriodCap(1000, Period.month()),))}
    )
    text = explain(ask(snapshot, usage=settled_usage(amount=1200)))
    assert text.splitlines()[0] == "decision: NoCredit (OCPP 2.0.1 NoCredit, OCPP 1.6 Blocked)"
    assert "[FAIL] cap.amount limit=1000 per month (organisation:1) value=1200" in text
    assert "[ ok ] token.status limit=Active value=Active" in text
    assert text.count("[ ok ]") == 10
    assert TOKEN not in text and TOKEN.lower() not in text
