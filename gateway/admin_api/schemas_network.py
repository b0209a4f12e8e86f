"""Request and response bodies of the network routes: stations, sites, tokens, groups,
organisation settings, policies and explain (see :mod:`gateway.admin_api.network`).

Amounts are decimal numbers in the currency's major unit (``0.30`` EUR),
sent as JSON numbers or strings and answered as strings, so no binary float
ever rounds a price.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field

from gateway.admin_api.schemas import Body
from gateway.members.bounds import RANGE, Id, Instant

TokenTypeName = Literal[
    "ISO14443", "ISO15693", "eMAID", "Central", "KeyCode", "Local", "MacAddress"
]
TokenStatusName = Literal["Active", "Blocked", "Lost"]

# -- stations -------------------------------------------------------------------------------


class TariffIn(Body):
    price_per_kwh: Decimal = Field(description="per kWh, in the organisation's currency")
    session_fee: Decimal = Field(Decimal(0), description="per session")


class TariffOut(BaseModel):
    price_per_kwh: str
    session_fee: str
    currency: str


class StationCreate(Body):
    charge_point_id: str = Field(description="the OCPP identity (last URL path segment)")
    site: str | None = Field(None, description="a site name, created on first use")
    timezone: str | None = Field(None, description="IANA name; default: the organisation's")
    tariff: TariffIn | None = Field(None, description="overrides the organisation's (prices)")
    password: str | None = Field(
        None, description="16-40 characters; generated when left out; shown once"
    )


class StationUpdate(Body):
    """Fields left out are kept; ``null`` clears one (site, time zone, tariff override)."""

    site: str | None = None
    timezone: str | None = None
    tariff: TariffIn | None = None


class StationOut(BaseModel):
    charge_point_id: str
    site: str | None
    timezone: str | None
    tariff: TariffOut | None = Field(description="the station's own tariff, if any")
    ocpp_version: str | None
    vendor: str | None
    model: str | None
    serial_number: str | None
    firmware_version: str | None
    accepted_once: bool
    connected: bool | None = Field(
        None, description="connected to this gateway now (lists and reads; null elsewhere)"
    )
    last_boot_at: str | None
    created_at: str


class PasswordIn(Body):
    password: str | None = Field(None, description="16-40 characters; generated when left out")


class PasswordOut(BaseModel):
    charge_point_id: str
    username: str = Field(description="HTTP Basic username: the station id")
    password: str = Field(description="shown once; only a hash is stored")
    generated: bool


class StationCreated(BaseModel):
    station: StationOut
    credentials: PasswordOut


class SiteOut(BaseModel):
    id: int
    name: str
    stations: int


# -- tokens ---------------------------------------------------------------------------------


class TokenCreate(Body):
    value: str = Field(description="the idTag / idToken (compared case-insensitively)")
    member_id: Id
    type: TokenTypeName = "ISO14443"
    expires_at: Instant | None = Field(None, description=f"with a time zone offset, {RANGE}")


class TokenUpdate(Body):
    status: TokenStatusName | None = None
    expires_at: Instant | None = Field(None, description=f"{RANGE}; null: never expires")


class TokenOut(BaseModel):
    value: str
    type: str
    status: str
    expires_at: str | None
    member_id: int
    member_email: str | None
    member_name: str | None
    created_at: str


# -- groups, organisation -------------------------------------------------------------------


class GroupIn(Body):
    name: str


class GroupOut(BaseModel):
    id: int
    name: str
    members: int
    policy: dict[str, Any] | None


class OrganisationOut(BaseModel):
    id: int
    name: str
    timezone: str
    currency: str
    price_per_kwh: str | None
    session_fee: str | None
    enforcement: str
    group_token: str | None = Field(description="sent as parentIdTag / groupIdToken")
    token_type_match: str = Field(
        description="2.0.1 idTokens: value (by value, the type a hint) or strict (value and type)"
    )
    created_at: str


class OrganisationUpdate(Body):
    """Fields left out are kept. Currency and tariff need the prices permission."""

    timezone: str | None = None
    currency: str | None = None
    price_per_kwh: Decimal | None = None
    session_fee: Decimal | None = None
    enforcement: Literal["enforce", "observe"] | None = None
    group_token: str | None = Field(None, description="null: send none")
    token_type_match: Literal["value", "strict"] | None = Field(
        None, description="value: a 2.0.1 idToken matches by value, its type a hint; strict: both"
    )


# -- policies, explain ----------------------------------------------------------------------


class PolicyOut(BaseModel):
    scope: str
    target: str
    policy: dict[str, Any] | None
    updated_at: str | None


class CheckOut(BaseModel):
    rule: str
    limit: str | None
    value: str | None
    passed: bool | None


class ExplainOut(BaseModel):
    token: str
    station: str
    at: str
    status: str
    ocpp201_status: str
    ocpp16_status: str
    reason: CheckOut
    expires_at: str | None
    member_id: int | None
    group_token: str | None
    flagged: CheckOut | None
    checks: list[CheckOut] = Field(description="every rule checked, in order, with its values")
    text: str = Field(description="the same, as `ocpp-gateway explain` prints it")
