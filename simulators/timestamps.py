"""Timestamps as a charge point writes them: UTC ISO-8601 ending in ``Z``.

OCPP 1.6 and OCPP 2.0.1 Part 2 (``dateTime``) both ask for UTC; the ``Z`` form
with milliseconds is what most firmware sends.
"""

from __future__ import annotations

from datetime import UTC, datetime


def ocpp_datetime(value: datetime | str | None = None) -> str:
    """``value`` (an aware datetime; ``None`` means now) as ``2024-05-01T12:00:00.000Z``.

    A string is passed through untouched, so that a test can send a malformed one.
    """
    if isinstance(value, str):
        return value
    moment = datetime.now(UTC) if value is None else value
    if moment.tzinfo is None:
        raise ValueError("a naive datetime is ambiguous; give it a time zone")
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
