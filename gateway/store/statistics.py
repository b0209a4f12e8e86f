"""Usage statistics: sessions, energy and cost of a period, read from the transactions.

A session counts in the period its ``started_at`` falls in (``since`` included,
``until`` excluded). Energy is what the charger reported: the final
``energy_wh`` of an ended session, the meter so far of an open one. Cost is
the one recorded with the session (minor units; none yet for an open 1.6
session).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gateway.store.database import Database
from gateway.timeutil import to_text

ENERGY = (
    "max(COALESCE(t.energy_wh, t.meter_last_wh - COALESCE(t.meter_start_wh, t.meter_first_wh),"
    " 0), 0)"
)
_IN_PERIOD = "t.started_at >= ? AND t.started_at < ?"


@dataclass(frozen=True, slots=True)
class Organisation:
    id: int
    name: str
    timezone: str
    currency: str


@dataclass(frozen=True, slots=True)
class Usage:
    """Totals of a set of sessions."""

    sessions: int = 0
    energy_wh: int = 0
    cost: int = 0


@dataclass(frozen=True, slots=True)
class Session:
    """What the weekly breakdown needs of one session."""

    started_at: str
    energy_wh: int
    cost: int


class StatisticsStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def organisation(self, organisation_id: int) -> Organisation | None:
        row = await self._db.fetchone(
            "SELECT id, name, timezone, currency FROM organisations WHERE id = ?",
            (organisation_id,),
        )
        return Organisation(int(row[0]), row[1], row[2], row[3]) if row else None

    async def organisation_by_name(self, name: str) -> Organisation | None:
        row = await self._db.fetchone(
            "SELECT id, name, timezone, currency FROM organisations WHERE name = ?", (name,)
        )
        return Organisation(int(row[0]), row[1], row[2], row[3]) if row else None

    async def members(
        self, organisation_id: int, since: datetime, until: datetime, member_id: int | None = None
    ) -> list[dict[str, Any]]:
        """Every (not deleted) member with their usage, by last name; or the one member."""
        only = " AND m.id = ?" if member_id is not None else ""
        params: tuple[Any, ...] = (to_text(since), to_text(until), organisation_id)
        if member_id is not None:
            params += (member_id,)
        rows = await self._db.fetchall(
            "SELECT m.id, m.identifier, m.first_name, m.last_name, m.email, m.status,"
            f" count(t.id), sum({ENERGY}), sum(COALESCE(t.cost, 0))"
            f" FROM members m LEFT JOIN transactions t ON t.member_id = m.id AND {_IN_PERIOD}"
            f" WHERE m.organisation_id = ? AND m.deleted_at IS NULL{only}"
            " GROUP BY m.id ORDER BY lower(m.last_name), lower(m.first_name), m.id",
            params,
        )
        stations = await self._member_stations(organisation_id, since, until, member_id)
        return [
            {
                "id": row[0],
                "identifier": row[1],
                "first_name": row[2],
                "last_name": row[3],
                "email": row[4],
                "status": row[5],
                "usage": Usage(int(row[6]), round(row[7] or 0), int(row[8] or 0)),
                "stations": stations.get(row[0], []),
            }
            for row in rows
        ]

    async def _member_stations(
        self, organisation_id: int, since: datetime, until: datetime, member_id: int | None
    ) -> dict[int, list[str]]:
        only = " AND m.id = ?" if member_id is not None else ""
        params: tuple[Any, ...] = (organisation_id, to_text(since), to_text(until))
        if member_id is not None:
            params += (member_id,)
        rows = await self._db.fetchall(
            "SELECT DISTINCT t.member_id, t.charge_point_id FROM transactions t"
            f" JOIN members m ON m.id = t.member_id WHERE m.organisation_id = ? AND {_IN_PERIOD}"
            f"{only} ORDER BY t.member_id, t.charge_point_id",
            params,
        )
        found: dict[int, list[str]] = {}
        for row in rows:
            found.setdefault(int(row[0]), []).append(row[1])
        return found

    async def member_sessions(
        self, organisation_id: int, since: datetime, until: datetime, member_id: int | None = None
    ) -> list[Session]:
        """Sessions of the organisation's members (or of one), for the weekly breakdown."""
        only = " AND t.member_id = ?" if member_id is not None else ""
        params: tuple[Any, ...] = (organisation_id, to_text(since), to_text(until))
        if member_id is not None:
            params += (member_id,)
        rows = await self._db.fetchall(
            f"SELECT t.started_at, {ENERGY}, COALESCE(t.cost, 0) FROM transactions t"
            f" JOIN members m ON m.id = t.member_id WHERE m.organisation_id = ? AND {_IN_PERIOD}"
            f"{only}",
            params,
        )
        return [Session(row[0], round(row[1]), int(row[2])) for row in rows]

    async def organisation_stations(
        self, organisation_id: int, since: datetime, until: datetime
    ) -> list[str]:
        """Stations (of any organisation) where the organisation's members charged."""
        rows = await self._db.fetchall(
            "SELECT DISTINCT t.charge_point_id FROM transactions t"
            f" JOIN members m ON m.id = t.member_id WHERE m.organisation_id = ? AND {_IN_PERIOD}"
            " ORDER BY t.charge_point_id",
            (organisation_id, to_text(since), to_text(until)),
        )
        return [row[0] for row in rows]

    async def organisation_usage(
        self, organisation_id: int, since: datetime, until: datetime
    ) -> tuple[Usage, int]:
        """Totals of the organisation's members' sessions (deleted members' included) and the
        number of members who charged."""
        row = await self._db.fetchone(
            f"SELECT count(t.id), sum({ENERGY}), sum(COALESCE(t.cost, 0)),"
            " count(DISTINCT t.member_id) FROM transactions t"
            f" JOIN members m ON m.id = t.member_id WHERE m.organisation_id = ? AND {_IN_PERIOD}",
            (organisation_id, to_text(since), to_text(until)),
        )
        if row is None:
            return Usage(), 0
        return Usage(int(row[0]), round(row[1] or 0), int(row[2] or 0)), int(row[3])

    async def stations(
        self,
        organisation_id: int,
        since: datetime,
        until: datetime,
        charge_point_ids: Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        """The organisation's stations with the usage of every session there (anyone's)."""
        only = ""
        params: tuple[Any, ...] = (to_text(since), to_text(until), organisation_id)
        if charge_point_ids is not None:
            only = f" AND s.charge_point_id IN ({', '.join('?' * len(charge_point_ids))})"
            params += tuple(charge_point_ids)
        rows = await self._db.fetchall(
            "SELECT s.charge_point_id, s.site, count(t.id), sum(" + ENERGY + "),"
            " sum(COALESCE(t.cost, 0)), count(DISTINCT t.member_id),"
            " sum(CASE WHEN t.id IS NOT NULL AND t.member_id IS NULL THEN 1 ELSE 0 END)"
            " FROM stations s LEFT JOIN transactions t"
            f" ON t.charge_point_id = s.charge_point_id AND {_IN_PERIOD}"
            f" WHERE s.organisation_id = ?{only}"
            " GROUP BY s.charge_point_id ORDER BY s.charge_point_id",
            params,
        )
        return [
            {
                "charge_point_id": row[0],
                "site": row[1],
                "usage": Usage(int(row[2]), round(row[3] or 0), int(row[4] or 0)),
                "members": int(row[5]),
                "unidentified_sessions": int(row[6] or 0),
            }
            for row in rows
        ]

    async def station_sessions(
        self, organisation_id: int, charge_point_id: str, since: datetime, until: datetime
    ) -> list[Session]:
        rows = await self._db.fetchall(
            f"SELECT t.started_at, {ENERGY}, COALESCE(t.cost, 0) FROM transactions t"
            " JOIN stations s ON s.charge_point_id = t.charge_point_id"
            f" WHERE s.organisation_id = ? AND s.charge_point_id = ? AND {_IN_PERIOD}",
            (organisation_id, charge_point_id, to_text(since), to_text(until)),
        )
        return [Session(row[0], round(row[1]), int(row[2])) for row in rows]
