"""Timestamps: OCPP date-times in, UTC ISO-8601 text out. The clock is passed in."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


def parse_ocpp_datetime(text: str) -> datetime:
    """Parse an OCPP date-time (RFC 3339; a missing offset is taken as UTC)."""
    value = datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def to_text(value: datetime) -> str:
    """Canonical storage form: UTC, microseconds, ``Z``."""
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def to_ocpp(value: datetime) -> str:
    """What the gateway sends to chargers: UTC, milliseconds, ``Z``."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
