"""Statistics and reports: per member, per organisation and per station, for a period.

Figures: sessions, energy (Wh and kWh), cost (minor units of the
organisation's currency), stations used (count and list), sessions per week
(the period's sessions over its length in weeks) and, for one member, the
organisation or one station, a breakdown by ISO week.

The period: ``since`` and ``until``, each a date (a whole day in the
organisation's time zone, both days included) or a date-time (with an offset,
or else in the organisation's time zone; ``until`` excluded). Default: the
current calendar month in the organisation's time zone. A session counts in
the period it started in (see :mod:`gateway.store.statistics`).

The organisation's totals are its members' sessions, wherever they charged
(so they are the sum of the member figures, deleted members included); a
station's are every session at that station, identified or not.

Permissions: the statistics permission, except that every member may read
their own member statistics. Another organisation's member or station is not
found (404).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gateway.members.bounds import day_or_instant
from gateway.members.errors import Invalid, NotFound
from gateway.members.roles import Permission
from gateway.members.service import Actor, AdminContext
from gateway.members.sync_table import neutralise
from gateway.store.statistics import Organisation, Session, StatisticsStore, Usage
from gateway.timeutil import parse_ocpp_datetime, to_text

WEEK = timedelta(days=7)
MAX_PAGE = 500
MEMBER_COLUMNS = (
    "id", "identifier", "first_name", "last_name", "email", "status", "sessions", "energy_kwh",
    "cost", "currency", "stations_used", "stations", "sessions_per_week",
)  # fmt: skip
STATION_COLUMNS = (
    "charge_point_id", "site", "sessions", "energy_kwh", "cost", "currency", "members",
    "unidentified_sessions", "sessions_per_week",
)  # fmt: skip
ORGANISATION_COLUMNS = (
    "organisation", "since", "until", "sessions", "energy_kwh", "cost", "currency",
    "members_charging", "stations_used", "stations", "sessions_per_week",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Period:
    """``since`` included, ``until`` excluded; ``now`` ends the part that has elapsed."""

    since: datetime
    until: datetime
    timezone: ZoneInfo
    now: datetime

    @property
    def weeks(self) -> float:
        """Weeks of the period elapsed so far (a rate is per elapsed week)."""
        return max((min(self.until, self.now) - self.since) / WEEK, 0.0)

    def as_dict(self) -> dict[str, Any]:
        return {
            "since": to_text(self.since),
            "until": to_text(self.until),
            "timezone": self.timezone.key,
            "weeks": round(self.weeks, 2),
        }


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def period(since: str | None, until: str | None, tz: ZoneInfo, now: datetime) -> Period:
    """The period asked for; 422 naming a bad bound.

    Neither bound: the current calendar month. Only ``since``: until now.
    Only ``until``: from the start of its month.
    """
    end = _bound("until", until, tz, end=True) if until else None
    if since:
        start = _bound("since", since, tz, end=False)
    else:
        anchor = (end - timedelta(microseconds=1)) if end is not None else now
        start = datetime.combine(anchor.astimezone(tz).date().replace(day=1), time(), tz)
    if end is None:
        if since:
            end = now
        else:
            next_month = (start.date() + timedelta(days=32)).replace(day=1)
            end = datetime.combine(next_month, time(), tz)
    if start >= end:
        raise Invalid("since must be before until", field="since")
    return Period(start, end, tz, now)


def _bound(name: str, text: str, tz: ZoneInfo, *, end: bool) -> datetime:
    try:
        text = day_or_instant(text)
    except ValueError as exc:
        raise Invalid(f"{name}: {exc}", field=name) from None
    if len(text) == 10:
        day = date.fromisoformat(text) + (timedelta(days=1) if end else timedelta())
        return datetime.combine(day, time(), tz)
    value = datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return parse_ocpp_datetime(value.isoformat())


def usage_fields(usage: Usage, weeks: float, currency: str) -> dict[str, Any]:
    return {
        "sessions": usage.sessions,
        "energy_wh": usage.energy_wh,
        "energy_kwh": round(usage.energy_wh / 1000, 3),
        "cost": usage.cost,
        "currency": currency,
        "sessions_per_week": round(usage.sessions / weeks, 2) if weeks > 0 else 0.0,
    }


def by_week(sessions: Iterable[Session], tz: ZoneInfo) -> list[dict[str, Any]]:
    """Sessions, kWh and cost per ISO week (of the local start time), weeks with sessions."""
    weeks: dict[str, list[int]] = {}
    for session in sessions:
        year, week, _ = parse_ocpp_datetime(session.started_at).astimezone(tz).isocalendar()
        totals = weeks.setdefault(f"{year}-W{week:02d}", [0, 0, 0])
        totals[0] += 1
        totals[1] += session.energy_wh
        totals[2] += session.cost
    return [
        {"week": key, "sessions": n, "energy_kwh": round(wh / 1000, 3), "cost": cost}
        for key, (n, wh, cost) in sorted(weeks.items())
    ]


def to_csv(columns: Sequence[str], items: Iterable[dict[str, Any]]) -> bytes:
    """Rows of the report as CSV (lists joined with ``;``; no cell is a formula)."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for item in items:
        writer.writerow([neutralise(_cell(item.get(column))) for column in columns])
    return out.getvalue().encode("utf-8")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ";".join(str(v) for v in value)
    return str(value)


class MemberStatistics:
    def __init__(self, ctx: AdminContext) -> None:
        self.ctx = ctx
        self.store = StatisticsStore(ctx.db)

    async def _context(
        self, actor: Actor, since: str | None, until: str | None
    ) -> tuple[Organisation, Period]:
        org = await self.store.organisation(actor.organisation_id)
        if org is None:
            raise NotFound("no such organisation")
        return org, period(since, until, zone(org.timezone), self.ctx.clock())

    async def members(
        self,
        actor: Actor,
        since: str | None = None,
        until: str | None = None,
        *,
        page: int | None = 1,
        per_page: int = 100,
    ) -> dict[str, Any]:
        """Every member's figures; ``page`` None: all of them (CSV)."""
        actor.require(Permission.STATISTICS)
        if not 1 <= per_page <= MAX_PAGE:
            raise Invalid(f"per_page is between 1 and {MAX_PAGE}", field="per_page")
        if page is not None and page < 1:
            raise Invalid("page starts at 1", field="page")
        org, span = await self._context(actor, since, until)
        rows = await self.store.members(org.id, span.since, span.until)
        items = [_member_item(row, span, org.currency) for row in rows]
        total = len(items)
        if page is not None:
            items = items[(page - 1) * per_page : page * per_page]
        return {
            "period": span.as_dict(),
            "items": items,
            "total": total,
            "page": page or 1,
            "per_page": per_page if page is not None else total,
        }

    async def member(
        self, actor: Actor, member_id: int, since: str | None = None, until: str | None = None
    ) -> dict[str, Any]:
        if member_id != actor.member_id:
            actor.require(Permission.STATISTICS)
        org, span = await self._context(actor, since, until)
        rows = await self.store.members(org.id, span.since, span.until, member_id)
        if not rows:
            raise NotFound(f"no member {member_id}")
        item = _member_item(rows[0], span, org.currency)
        sessions = await self.store.member_sessions(org.id, span.since, span.until, member_id)
        return {"period": span.as_dict(), **item, "by_week": by_week(sessions, span.timezone)}

    async def organisation(
        self, actor: Actor, since: str | None = None, until: str | None = None
    ) -> dict[str, Any]:
        actor.require(Permission.STATISTICS)
        org, span = await self._context(actor, since, until)
        usage, charging = await self.store.organisation_usage(org.id, span.since, span.until)
        stations = await self.store.organisation_stations(org.id, span.since, span.until)
        sessions = await self.store.member_sessions(org.id, span.since, span.until)
        return {
            "organisation": org.name,
            "period": span.as_dict(),
            **usage_fields(usage, span.weeks, org.currency),
            "members_charging": charging,
            "stations_used": len(stations),
            "stations": stations,
            "by_week": by_week(sessions, span.timezone),
        }

    async def stations(
        self, actor: Actor, since: str | None = None, until: str | None = None
    ) -> dict[str, Any]:
        actor.require(Permission.STATISTICS)
        org, span = await self._context(actor, since, until)
        rows = await self.store.stations(org.id, span.since, span.until)
        return {
            "period": span.as_dict(),
            "items": [_station_item(row, span, org.currency) for row in rows],
        }

    async def station(
        self, actor: Actor, charge_point_id: str, since: str | None = None, until: str | None = None
    ) -> dict[str, Any]:
        actor.require(Permission.STATISTICS)
        org, span = await self._context(actor, since, until)
        rows = await self.store.stations(org.id, span.since, span.until, [charge_point_id])
        if not rows:
            raise NotFound(f"no station {charge_point_id}")
        sessions = await self.store.station_sessions(
            org.id, charge_point_id, span.since, span.until
        )
        return {
            "period": span.as_dict(),
            **_station_item(rows[0], span, org.currency),
            "by_week": by_week(sessions, span.timezone),
        }


def _member_item(row: dict[str, Any], span: Period, currency: str) -> dict[str, Any]:
    return {
        "id": row["id"],
        "identifier": row["identifier"],
        "first_name": row["first_name"],
        "last_name": row["last_name"],
        "email": row["email"],
        "status": row["status"],
        **usage_fields(row["usage"], span.weeks, currency),
        "stations_used": len(row["stations"]),
        "stations": row["stations"],
    }


def _station_item(row: dict[str, Any], span: Period, currency: str) -> dict[str, Any]:
    return {
        "charge_point_id": row["charge_point_id"],
        "site": row["site"],
        **usage_fields(row["usage"], span.weeks, currency),
        "members": row["members"],
        "unidentified_sessions": row["unidentified_sessions"],
    }
