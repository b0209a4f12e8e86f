"""Usage policies as operators write them (JSON), validated and turned into engine policies.

A policy body, every key optional (an absent key does not set the rule, so it
is inherited from the less specific scope: member, then groups, then the
organisation; see ``gateway.policy_engine.combine``)::

    {
      "name": "Lyon commuters",
      "sites": ["Lyon"], "stations": ["CP-7"], "all_stations": false,
      "hours": [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "07:00", "end": "19:00"},
                {"days": ["sat"], "start": "22:00", "end": "06:00"}],
      "amount_caps": [{"limit": "40.00", "period": "month"}],
      "energy_caps_kwh": [{"limit": 150, "period": "rolling:7"}],
      "session_caps": [{"limit": 10, "period": "month"}],
      "max_concurrent": 1,
      "valid_from": "2026-01-01T00:00:00+01:00", "valid_until": null
    }

Amounts are in the organisation's currency (major units, e.g. euros), energy
in kWh; periods are ``day``, ``week`` (Monday to Sunday), ``month`` (calendar,
in the organisation's time zone) or ``rolling:N`` (today and the N-1 days
before). Hours are read in the station's time zone; ``end`` at or before
``start`` is an overnight window ending the next day (``"end": "00:00"`` ends
at midnight).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import time
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from gateway.members.bounds import Instant
from gateway.policy_engine import (
    Period,
    PeriodCap,
    Policy,
    StationScope,
    TimeWindow,
    Validity,
    WeeklySchedule,
)

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# ISO 4217 minor units where they are not 2.
_EXPONENTS = {
    "JPY": 0,
    "KRW": 0,
    "ISK": 0,
    "CLP": 0,
    "VND": 0,
    "XOF": 0,
    "XAF": 0,
    "BHD": 3,
    "KWD": 3,
    "JOD": 3,
    "OMR": 3,
    "TND": 3,
    "LYD": 3,
    "IQD": 3,
}


def minor_units(amount: Decimal, currency: str) -> int:
    """Major units of ``currency`` to its integer minor units (cents for EUR)."""
    return int(amount.scaleb(_EXPONENTS.get(currency.upper(), 2)).to_integral_value())


def price_minor_per_kwh(price: Decimal, currency: str) -> Decimal:
    """A price per kWh in major units to minor units per kWh (sub-cent digits kept)."""
    return price.scaleb(_EXPONENTS.get(currency.upper(), 2))


def _period(text: str) -> str:
    if text in ("day", "week", "month"):
        return text
    kind, _, days = text.partition(":")
    if kind == "rolling" and days.isdigit() and 1 <= int(days) <= 366:
        return text
    raise ValueError("period is day, week, month or rolling:N (1 <= N <= 366)")


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# Far beyond any real cap, small enough that every conversion to minor units and Wh is exact.
MAX_LIMIT = Decimal(10**9)


class CapSpec(_Spec):
    limit: Decimal = Field(ge=0, le=MAX_LIMIT, allow_inf_nan=False)
    period: Annotated[str, AfterValidator(_period)]
    hold: Decimal | None = Field(None, gt=0, le=MAX_LIMIT, allow_inf_nan=False)


class WindowSpec(_Spec):
    days: list[Weekday] = Field(min_length=1)
    start: time
    end: time


class PolicySpec(_Spec):
    name: str = ""
    stations: list[str] | None = None
    sites: list[str] | None = None
    all_stations: bool | None = None
    hours: list[WindowSpec] | None = None
    amount_caps: list[CapSpec] | None = None
    energy_caps_kwh: list[CapSpec] | None = None
    session_caps: list[CapSpec] | None = None
    max_concurrent: int | None = Field(None, ge=1, le=10_000)
    valid_from: Instant | None = None
    valid_until: Instant | None = None

    def site_names(self) -> set[str]:
        return set(self.sites or ())


def _to_period(text: str) -> Period:
    if text == "day":
        return Period.day()
    if text == "week":
        return Period.week()
    if text == "month":
        return Period.month()
    return Period.rolling(int(text.split(":", 1)[1]))


def _caps(
    specs: list[CapSpec] | None, scale: int | None, currency: str
) -> tuple[PeriodCap, ...] | None:
    """Caps in engine units: minor units (scale None), Wh (scale 1000) or sessions (scale 1)."""
    if specs is None:
        return None

    def units(value: Decimal) -> int:
        if scale is None:
            return minor_units(value, currency)
        return int(value * scale)

    return tuple(
        PeriodCap(units(c.limit), _to_period(c.period), units(c.hold) if c.hold else None)
        for c in specs
    )


def to_policy(spec: PolicySpec, currency: str, site_ids: Mapping[str, int]) -> Policy:
    """The engine's policy; ``site_ids`` maps the organisation's site names to ids."""
    scope = None
    if spec.stations is not None or spec.sites is not None or spec.all_stations is not None:
        scope = StationScope(
            stations=frozenset(spec.stations or ()),
            sites=frozenset(site_ids[name] for name in spec.sites or ()),
            all_stations=bool(spec.all_stations),
        )
    hours = None
    if spec.hours is not None:
        hours = WeeklySchedule(
            tuple(
                TimeWindow(WEEKDAYS.index(day), w.start, w.end)
                for w in spec.hours
                for day in w.days
            )
        )
    validity = None
    if spec.valid_from is not None or spec.valid_until is not None:
        validity = Validity(spec.valid_from, spec.valid_until)
    return Policy(
        stations=scope,
        hours=hours,
        amount_caps=_caps(spec.amount_caps, None, currency),
        energy_caps=_caps(spec.energy_caps_kwh, 1000, currency),
        session_caps=_caps(spec.session_caps, 1, currency),
        max_concurrent=spec.max_concurrent,
        validity=validity,
        name=spec.name,
    )
