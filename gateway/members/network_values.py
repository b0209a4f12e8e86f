"""Checking what operators type for stations, tokens, groups and settings (pure, no I/O).

Shared by the admin API (:mod:`gateway.members.network`) and the command
line: each check returns the value to store or raises
:class:`~gateway.members.errors.Invalid` naming the field, which the API
answers with 422.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime
from decimal import Decimal
from functools import cache
from zoneinfo import available_timezones

from gateway.members.errors import Invalid
from gateway.members.policy_spec import minor_units, price_minor_per_kwh
from gateway.policy_engine import TokenStatus, TokenType, TokenTypeMatch

# OCPP-J 1.6 §3.1.1 / 2.0.1 Part 4 §3.1.1: the identity is the last path segment, a 1-48
# character identifierString without ':' (the same set the handshake accepts).
_STATION_ID = re.compile(r"[A-Za-z0-9*\-_=+|@.]{1,48}")
# OCPP 2.0.1 IdTokenType.idToken is a string of at most 36 characters (1.6 IdToken: 20).
# Printable ASCII without spaces, and no "/" so that every value can sit in a URL path.
# Printable ASCII without space, "/" (URL paths) and ";" (the list separator of CSV imports).
_TOKEN_VALUE = re.compile(r"[\x21-\x2e\x30-\x3a\x3c-\x7e]{1,36}")
_CURRENCY = re.compile(r"[A-Z]{3}")
PASSWORD_LENGTH = (16, 40)  # OCPP 2.0.1 A00 BasicAuthPassword; 1.6 AuthorizationKey is 40 hex
TOKEN_TYPES = tuple(t.value for t in TokenType)
TOKEN_STATUSES = tuple(s.value for s in TokenStatus)
ENFORCEMENT_MODES = ("enforce", "observe")
TOKEN_TYPE_MATCHES = tuple(m.value for m in TokenTypeMatch)
MAX_NAME = 100
MAX_PRICE_PER_KWH = Decimal(1000)
MAX_SESSION_FEE = Decimal(100_000)


def station_id(text: str, field: str = "charge_point_id") -> str:
    if not _STATION_ID.fullmatch(text):
        raise Invalid(
            "a station id has 1 to 48 characters among A-Z a-z 0-9 * - _ = + | @ .",
            field=field,
        )
    return text


def charger_password(given: str | None, field: str = "password") -> tuple[str, bool]:
    """(password, generated): the given one once checked, else a new random one (32 chars)."""
    if given is None:
        return secrets.token_urlsafe(24)[:32], True
    low, high = PASSWORD_LENGTH
    if not low <= len(given) <= high:
        raise Invalid(
            f"a charger password has {low} to {high} characters (OCPP 2.0.1 A00)", field=field
        )
    return given, False


@cache
def _zones() -> frozenset[str]:
    """IANA names, less the host's own zone under an alias that means nothing portable."""
    return frozenset(available_timezones()) - {"localtime", "posixrules"}


def timezone(text: str, field: str = "timezone") -> str:
    """An IANA time zone name, e.g. Europe/Paris (``UTC`` included)."""
    if text not in _zones():
        raise Invalid(f"unknown time zone {text!r} (an IANA name, e.g. Europe/Paris)", field=field)
    return text


def currency(text: str, field: str = "currency") -> str:
    code = text.strip().upper()
    if not _CURRENCY.fullmatch(code):
        raise Invalid("a currency is a three-letter ISO 4217 code, e.g. EUR", field=field)
    return code


def amount(value: Decimal | str, field: str, *, maximum: Decimal | None = None) -> Decimal:
    """A non-negative finite decimal amount in the currency's major unit."""
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except ArithmeticError:
        raise Invalid(f"not a number: {value!r}", field=field) from None
    if not number.is_finite():
        raise Invalid(f"not a number: {value!r}", field=field)
    if number < 0:
        raise Invalid("cannot be negative", field=field)
    if maximum is not None and number > maximum:
        raise Invalid(f"at most {maximum}", field=field)
    return number


def price_per_kwh_minor(value: Decimal | str, code: str, field: str = "price_per_kwh") -> str:
    """A price per kWh in major units as stored: minor units per kWh, as text."""
    price = amount(value, field, maximum=MAX_PRICE_PER_KWH)
    return format(price_minor_per_kwh(price, code).normalize(), "f")


def session_fee_minor(value: Decimal | str, code: str, field: str = "session_fee") -> int:
    """A session fee in major units as stored: whole minor units."""
    fee = amount(value, field, maximum=MAX_SESSION_FEE)
    minor = minor_units(fee, code)
    if Decimal(minor) != fee * minor_units(Decimal(1), code):
        raise Invalid(f"more decimals than {code} has", field=field)
    return minor


def major(minor: Decimal | int | str | None, code: str) -> str | None:
    """Minor units (as stored) back to a major-unit amount: 30 cents -> "0.30", 29.9 -> "0.299"."""
    if minor is None:
        return None
    factor = minor_units(Decimal(1), code)
    value = Decimal(str(minor)) / factor
    rounded = value.quantize(Decimal(1) / factor)
    return str(rounded if rounded == value else value.normalize())


def enforcement(text: str, field: str = "enforcement") -> str:
    if text not in ENFORCEMENT_MODES:
        raise Invalid("enforcement is enforce or observe", field=field)
    return text


def token_type_match(text: str, field: str = "token_type_match") -> str:
    if text not in TOKEN_TYPE_MATCHES:
        raise Invalid("token_type_match is value or strict", field=field)
    return text


def token_value(text: str, field: str = "value") -> str:
    if not _TOKEN_VALUE.fullmatch(text):
        raise Invalid(
            "a token value has 1 to 36 printable ASCII characters, no spaces, '/' or ';'"
            " (OCPP 2.0.1 IdTokenType; 1.6 chargers send at most 20)",
            field=field,
        )
    return text


def group_token(text: str, field: str = "group_token") -> str:
    """Sent as 1.6 ``parentIdTag`` (an IdToken, CiString20) and 2.0.1 ``groupIdToken``."""
    value = token_value(text, field)
    if len(value) > 20:
        raise Invalid("a group token has at most 20 characters (OCPP 1.6 IdToken)", field=field)
    return value


def token_type(text: str, field: str = "type") -> str:
    if text not in TOKEN_TYPES:
        raise Invalid(f"type is one of {', '.join(TOKEN_TYPES)}", field=field)
    return text


def token_status(text: str, field: str = "status") -> str:
    if text not in TOKEN_STATUSES:
        raise Invalid(f"status is one of {', '.join(TOKEN_STATUSES)}", field=field)
    return text


def aware(value: datetime, field: str) -> datetime:
    if value.tzinfo is None:
        raise Invalid("give a time zone offset, e.g. 2026-01-01T00:00:00+01:00", field=field)
    return value


def name(text: str, field: str = "name") -> str:
    """A group or site name: trimmed, 1-100 characters, no '/' (it sits in URL paths), no ';'
    (it separates groups in CSV imports)."""
    cleaned = text.strip()
    if not cleaned or len(cleaned) > MAX_NAME:
        raise Invalid(f"a name has 1 to {MAX_NAME} characters", field=field)
    if "/" in cleaned or ";" in cleaned or any(not ch.isprintable() for ch in cleaned):
        raise Invalid("a name has no '/', no ';' and no control characters", field=field)
    return cleaned
