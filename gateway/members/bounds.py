"""Bounded scalar inputs, in one place: row ids, page numbers and instants.

Every id, page number and date-time the admin API takes (path, query or body) and the
command line's member inputs are one of these types, so what SQLite cannot store (an integer
past ``2**63 - 1``) and what the calendar cannot compute with (year 1 or 9999 moved by a time
zone offset or a day) are refused as input: a 422 naming the parameter (``query.page``,
``body.expires_at``), never an ``OverflowError`` in a service. Dates and date-times are ISO
8601 text only: a number is not taken as a Unix timestamp.

The bounds are part of the API (README "Limits"): ids 1 to 2**63 - 1, pages 1 to 1,000,000
of at most 500 items, instants from 1970-01-01 to 9998-12-31 UTC with an offset.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

from annotated_types import Ge, Le, MaxLen
from pydantic import AfterValidator, BeforeValidator, ValidationInfo

MAX_ID = 2**63 - 1
"""The largest row id SQLite stores: larger ids are refused as input (422), not looked up."""
MAX_PAGE = 1_000_000
MAX_PER_PAGE = 500
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9998, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
RANGE = "from 1970-01-01 to 9998-12-31 (UTC)"
STORED: dict[str, bool] = {"stored": True}
"""Validation context for what is read back from the database (see :func:`in_range`)."""

Id = Annotated[int, Ge(1), Le(MAX_ID)]
Page = Annotated[int, Ge(1), Le(MAX_PAGE)]
PerPage = Annotated[int, Ge(1), Le(MAX_PER_PAGE)]


def parse_iso(value: object) -> object:
    """ISO 8601 text (``Z`` or an offset) to a datetime; a number is refused, not a timestamp."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueError("an ISO 8601 date-time is text, e.g. 2026-01-01T00:00:00+01:00")
    try:
        return datetime.fromisoformat(value.strip().replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{value[:40]!r} is not an ISO 8601 date-time, e.g. 2026-01-01T00:00:00+01:00"
        ) from None


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("give a time zone offset, e.g. 2026-01-01T00:00:00+01:00")
    return value


def in_range(value: datetime) -> datetime:
    """An aware instant between :data:`EARLIEST` and :data:`LATEST`, else ValueError."""
    if not EARLIEST <= _aware(value) <= LATEST:
        raise ValueError(f"an instant is {RANGE}")
    return value


def _instant(value: datetime, info: ValidationInfo) -> datetime:
    """:func:`in_range`; validated with ``context=STORED`` (a policy read back from the
    database), only the offset is required: what an earlier version stored still loads."""
    if (info.context or {}).get("stored"):
        return _aware(value)
    return in_range(value)


def day_or_instant(text: str) -> str:
    """A date (``2026-11-01``) or an ISO 8601 date-time, in range; the text itself is kept
    (the service reads a date, or a date-time without offset, in the organisation's zone)."""
    stripped = text.strip()
    if len(stripped) == 10:
        try:
            day = date.fromisoformat(stripped)
        except ValueError:
            raise ValueError(f"{text[:40]!r} is not an ISO 8601 date (2026-11-01)") from None
        if not EARLIEST.date() <= day <= LATEST.date():
            raise ValueError(f"a date is {RANGE}")
        return stripped
    try:
        value = datetime.fromisoformat(stripped.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{text[:40]!r} is not an ISO 8601 date (2026-11-01) or date-time"
        ) from None
    in_range(value if value.tzinfo else value.replace(tzinfo=UTC))
    return stripped


# annotated_types and validators only (no pydantic Field): these types also sit inside
# FastAPI's Query(...) and Path(...), which carry the descriptions.
Instant = Annotated[datetime, BeforeValidator(parse_iso), AfterValidator(_instant)]
DayOrInstant = Annotated[str, MaxLen(40), AfterValidator(day_or_instant)]

__all__ = [
    "EARLIEST",
    "LATEST",
    "MAX_ID",
    "MAX_PAGE",
    "MAX_PER_PAGE",
    "RANGE",
    "STORED",
    "DayOrInstant",
    "Id",
    "Instant",
    "Page",
    "PerPage",
    "day_or_instant",
    "in_range",
]
