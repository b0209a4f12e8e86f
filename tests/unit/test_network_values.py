"""What operators type for stations, tokens and settings: accepted as stored, or refused with
the field named (pure checks, no event loop)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from gateway.members import network_values as check
from gateway.members.errors import Invalid
from gateway.members.inputs import NewMember
from gateway.transport.handshake import charge_point_identity


def refused(fn: object, *args: object) -> str | None:
    with pytest.raises(Invalid) as caught:
        fn(*args)  # type: ignore[operator]
    return caught.value.field


@pytest.mark.parametrize("cpid", ["CP-1", "a" * 48, "*-_=+|@.", "Z9"])
def test_station_ids_the_handshake_accepts(cpid: str) -> None:
    assert check.station_id(cpid) == cpid
    assert charge_point_identity("/ocpp/" + cpid) == cpid


@pytest.mark.parametrize("cpid", ["", "a" * 49, "CP 1", "CP:1", "CP/1", "CP%201", "caf\u00e9"])
def test_station_ids_the_handshake_refuses(cpid: str) -> None:
    assert refused(check.station_id, cpid) == "charge_point_id"


@given(st.text(max_size=60))
def test_station_id_check_agrees_with_the_handshake(text: str) -> None:
    """Every id registered can connect: the check never accepts what the handshake refuses."""
    try:
        check.station_id(text)
    except Invalid:
        return
    assert charge_point_identity("/" + text) == text


def test_passwords_are_16_to_40_characters_or_generated() -> None:
    assert check.charger_password("x" * 16) == ("x" * 16, False)
    assert check.charger_password("x" * 40) == ("x" * 40, False)
    assert refused(check.charger_password, "x" * 15) == "password"
    assert refused(check.charger_password, "x" * 41) == "password"
    first, generated = check.charger_password(None)
    assert generated and len(first) == 32 and first != check.charger_password(None)[0]


@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris", "America/Argentina/Buenos_Aires"])
def test_iana_time_zones(zone: str) -> None:
    assert check.timezone(zone) == zone


@pytest.mark.parametrize("zone", ["", "Europe", "utc", "../etc/passwd", "localtime", "x" * 300])
def test_not_time_zones(zone: str) -> None:
    """Including names that make ZoneInfo raise something other than ZoneInfoNotFoundError."""
    assert refused(check.timezone, zone) == "timezone"


def test_amounts_in_major_units_stored_in_minor_units() -> None:
    assert check.price_per_kwh_minor("0.30", "EUR") == "30"
    assert check.price_per_kwh_minor(Decimal("0.2999"), "EUR") == "29.99"
    assert check.price_per_kwh_minor("12", "JPY") == "12"
    assert check.session_fee_minor("0.5", "EUR") == 50
    assert check.session_fee_minor("1.234", "KWD") == 1234
    assert check.major(30, "EUR") == "0.30"
    assert check.major("29.99", "EUR") == "0.2999"
    assert check.major(5, "JPY") == "5"
    assert check.major(None, "EUR") is None


@pytest.mark.parametrize("text", ["-1", "abc", "NaN", "Infinity", "1e9", ""])
def test_bad_amounts(text: str) -> None:
    assert refused(check.price_per_kwh_minor, text, "EUR") == "price_per_kwh"


def test_a_fee_finer_than_the_currency_is_refused() -> None:
    assert refused(check.session_fee_minor, "0.001", "EUR") == "session_fee"
    assert refused(check.session_fee_minor, "0.5", "JPY") == "session_fee"


@given(st.integers(min_value=0, max_value=100_000), st.sampled_from(["EUR", "JPY", "KWD"]))
def test_major_and_minor_round_trip(minor: int, currency: str) -> None:
    """What the API shows (major units) reads back as what is stored (minor units)."""
    shown = check.major(minor, currency)
    assert shown is not None
    assert check.session_fee_minor(shown, currency) == minor
    if Decimal(shown) <= check.MAX_PRICE_PER_KWH:
        assert Decimal(check.price_per_kwh_minor(shown, currency)) == minor


def test_currencies_and_enforcement() -> None:
    assert check.currency(" usd ") == "USD"
    assert refused(check.currency, "euro") == "currency"
    assert check.enforcement("observe") == "observe"
    assert refused(check.enforcement, "maybe") == "enforcement"
    assert [check.token_type_match(m) for m in ("value", "strict")] == ["value", "strict"]
    assert refused(check.token_type_match, "Strict") == "token_type_match"


@pytest.mark.parametrize("value", ["04A2B3C4", "x", "EMAID-FR-123", "AA:BB:CC", "!" * 36])
def test_token_values(value: str) -> None:
    assert check.token_value(value) == value


@pytest.mark.parametrize("value", ["", " x", "a b", "a/b", "t\u00e9", "x" * 37, "a\tb"])
def test_bad_token_values(value: str) -> None:
    assert refused(check.token_value, value) == "value"


def test_group_tokens_fit_a_16_parent_id_tag() -> None:
    assert check.group_token("G" * 20) == "G" * 20
    assert refused(check.group_token, "G" * 21) == "group_token"
    assert refused(check.group_token, "a b") == "group_token"


def test_token_types_and_statuses_are_ocpps() -> None:
    assert check.TOKEN_TYPES == (
        "ISO14443", "ISO15693", "eMAID", "Central", "KeyCode", "Local", "MacAddress",
    )  # fmt: skip
    assert refused(check.token_type, "NoAuthorization") == "type"
    assert check.token_status("Lost") == "Lost"
    assert refused(check.token_status, "Stolen") == "status"


def test_names_and_instants() -> None:
    assert check.name("  commuters ") == "commuters"
    for bad in ("", "   ", "a/b", "x" * 101, "tab\there"):
        assert refused(check.name, bad) == "name"
    assert check.aware(datetime(2026, 1, 1, tzinfo=UTC), "at").year == 2026
    assert refused(check.aware, datetime(2026, 1, 1), "at") == "at"


@pytest.mark.parametrize("bad", ["A;B", "A/B", "A B", ""])
def test_token_values_refuse_the_csv_separator_slash_and_spaces(bad: str) -> None:
    with pytest.raises(Invalid):
        check.token_value(bad)
    with pytest.raises(ValidationError):
        NewMember.model_validate({"email": "a@b.co", "tokens": [{"value": bad}]})


@pytest.mark.parametrize("bad", ["Lyon;Paris", "Lyon/Paris", " "])
def test_group_names_refuse_the_csv_separator_and_slash(bad: str) -> None:
    with pytest.raises(Invalid):
        check.name(bad)
    with pytest.raises(ValidationError):
        NewMember.model_validate({"email": "a@b.co", "groups": [bad]})
