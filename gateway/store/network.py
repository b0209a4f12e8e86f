"""An organisation's network as operators manage it: stations, sites, tokens, groups, policies.

Reads take the organisation id and never see another organisation's rows.
The ``*_record`` functions run inside a write op (they see its own changes)
and give what the audit log keeps as "before" and "after": a station record
never includes its password hash.

The rows :meth:`NetworkStore.explain_rows` gives are the part of the
database one decision reads (the token, its member, the member's
organisation, groups and policies, the station, and the stations of the
member's recent sessions for the usage counters), so that ``explain`` costs
the same for ten members as for a million.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import aiosqlite

from gateway.store.database import Database
from gateway.store.members import token_key
from gateway.store.policies import Rows
from gateway.timeutil import to_text

STATION_FIELDS = (
    "charge_point_id", "organisation_id", "site", "site_id", "timezone", "price_per_kwh",
    "session_fee", "accepted_once", "ocpp_version", "vendor", "model", "serial_number",
    "firmware_version", "last_boot_at", "created_at",
)  # fmt: skip
_STATION_COLUMNS = ", ".join(STATION_FIELDS)
_TOKEN_COLUMNS = (
    "t.id, t.value, t.type, t.status, t.expires_at, t.created_at, t.member_id,"
    " m.email AS member_email, trim(m.first_name || ' ' || m.last_name) AS member_name"
)
_ORG_COLUMNS = (
    "id, name, timezone, currency, price_per_kwh, session_fee, enforcement, group_token,"
    " token_type_match, created_at"
)
_POLICY_COLUMNS = "p.scope_kind, p.scope_id, p.body, o.currency, p.organisation_id"


async def _one(
    db: aiosqlite.Connection, sql: str, params: tuple[Any, ...]
) -> dict[str, Any] | None:
    async with db.execute(sql, params) as cur:
        row = await cur.fetchone()
    return dict(row) if row is not None else None


async def station_record(db: aiosqlite.Connection, charge_point_id: str) -> dict[str, Any] | None:
    """A station as the audit log and the API show it: no password hash."""
    return await _one(
        db, f"SELECT {_STATION_COLUMNS} FROM stations WHERE charge_point_id = ?", (charge_point_id,)
    )


async def token_record(db: aiosqlite.Connection, token_id: int) -> dict[str, Any] | None:
    return await _one(
        db,
        f"SELECT {_TOKEN_COLUMNS} FROM tokens t JOIN members m ON m.id = t.member_id"
        " WHERE t.id = ?",
        (token_id,),
    )


async def organisation_record(db: aiosqlite.Connection, organisation_id: int) -> dict[str, Any]:
    found = await _one(
        db, f"SELECT {_ORG_COLUMNS} FROM organisations WHERE id = ?", (organisation_id,)
    )
    assert found is not None, f"organisation {organisation_id} is gone"
    return found


async def ensure_site(db: aiosqlite.Connection, organisation_id: int, name: str) -> int:
    """The id of the organisation's site ``name``, created on first use."""
    await db.execute(
        "INSERT OR IGNORE INTO sites (organisation_id, name) VALUES (?, ?)", (organisation_id, name)
    )
    found = await _one(
        db, "SELECT id FROM sites WHERE organisation_id = ? AND name = ?", (organisation_id, name)
    )
    assert found is not None
    return int(found["id"])


async def insert_station(
    db: aiosqlite.Connection,
    organisation_id: int,
    charge_point_id: str,
    password_hash: str,
    now: datetime,
) -> bool:
    """False when the id is taken (by any organisation: station ids are global)."""
    cur = await db.execute(
        "INSERT OR IGNORE INTO stations (charge_point_id, organisation_id, password_hash,"
        " created_at) VALUES (?, ?, ?, ?)",
        (charge_point_id, organisation_id, password_hash, to_text(now)),
    )
    return cur.rowcount == 1


async def update_station(db: aiosqlite.Connection, charge_point_id: str, **fields: Any) -> None:
    """Set any of: site, site_id, timezone, price_per_kwh, session_fee, password_hash."""
    allowed = {"site", "site_id", "timezone", "price_per_kwh", "session_fee", "password_hash"}
    if not fields:
        return
    if not set(fields) <= allowed:
        raise ValueError(f"unknown station fields: {set(fields) - allowed}")
    assignments = ", ".join(f"{k} = :{k}" for k in fields)
    await db.execute(
        f"UPDATE stations SET {assignments} WHERE charge_point_id = :cpid",
        {**fields, "cpid": charge_point_id},
    )


async def insert_token(
    db: aiosqlite.Connection,
    value: str,
    token_type: str,
    member_id: int,
    expires_at: datetime | None,
    now: datetime,
) -> int | None:
    """The new token's id, or None when the value is taken (compared case-insensitively,
    across organisations)."""
    cur = await db.execute(
        "INSERT OR IGNORE INTO tokens (value, value_key, type, member_id, status, expires_at,"
        " created_at) VALUES (?, ?, ?, ?, 'Active', ?, ?)",
        (
            value,
            token_key(value),
            token_type,
            member_id,
            to_text(expires_at) if expires_at else None,
            to_text(now),
        ),
    )
    return cur.lastrowid if cur.rowcount == 1 else None


async def bump_cache_generation(db: aiosqlite.Connection) -> None:
    """Tell every gateway that what authorization reads changed (when no trigger does)."""
    await db.execute("UPDATE meta SET value = value + 1 WHERE key = 'cache_generation'")


class NetworkStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def _one(self, sql: str, params: tuple[Any, ...]) -> dict[str, Any] | None:
        row = await self._db.fetchone(sql, params)
        return dict(row) if row is not None else None

    async def _all(self, sql: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
        return [dict(r) for r in await self._db.fetchall(sql, params)]

    # -- organisation, sites ----------------------------------------------------------------

    async def organisation(self, organisation_id: int) -> dict[str, Any] | None:
        return await self._one(
            f"SELECT {_ORG_COLUMNS} FROM organisations WHERE id = ?", (organisation_id,)
        )

    async def sites(self, organisation_id: int) -> list[dict[str, Any]]:
        return await self._all(
            "SELECT s.id, s.name, count(st.charge_point_id) AS stations FROM sites s"
            " LEFT JOIN stations st ON st.site_id = s.id"
            " WHERE s.organisation_id = ? GROUP BY s.id ORDER BY s.name",
            (organisation_id,),
        )

    async def site_names(self, organisation_id: int) -> set[str]:
        rows = await self._db.fetchall(
            "SELECT name FROM sites WHERE organisation_id = ?", (organisation_id,)
        )
        return {r[0] for r in rows}

    # -- stations ---------------------------------------------------------------------------

    async def stations(self, organisation_id: int, site: str | None = None) -> list[dict[str, Any]]:
        sql = f"SELECT {_STATION_COLUMNS} FROM stations WHERE organisation_id = ?"
        params: tuple[Any, ...] = (organisation_id,)
        if site is not None:
            sql += " AND site = ?"
            params += (site,)
        return await self._all(sql + " ORDER BY charge_point_id", params)

    async def station(self, organisation_id: int, charge_point_id: str) -> dict[str, Any] | None:
        return await self._one(
            f"SELECT {_STATION_COLUMNS} FROM stations"
            " WHERE organisation_id = ? AND charge_point_id = ?",
            (organisation_id, charge_point_id),
        )

    # -- tokens -----------------------------------------------------------------------------

    async def tokens(
        self, organisation_id: int, *, member_id: int | None = None, status: str | None = None
    ) -> list[dict[str, Any]]:
        sql = (
            f"SELECT {_TOKEN_COLUMNS} FROM tokens t JOIN members m ON m.id = t.member_id"
            " WHERE m.organisation_id = ? AND m.deleted_at IS NULL"
        )
        params: tuple[Any, ...] = (organisation_id,)
        if member_id is not None:
            sql += " AND t.member_id = ?"
            params += (member_id,)
        if status is not None:
            sql += " AND t.status = ?"
            params += (status,)
        return await self._all(sql + " ORDER BY t.value_key", params)

    async def token(self, organisation_id: int, value: str) -> dict[str, Any] | None:
        """The organisation's token ``value`` (any case)."""
        return await self._one(
            f"SELECT {_TOKEN_COLUMNS} FROM tokens t JOIN members m ON m.id = t.member_id"
            " WHERE t.value_key = ? AND m.organisation_id = ? AND m.deleted_at IS NULL",
            (token_key(value), organisation_id),
        )

    # -- groups and policies ----------------------------------------------------------------

    async def groups(self, organisation_id: int) -> list[dict[str, Any]]:
        rows = await self._all(
            "SELECT g.id, g.name, count(mg.member_id) AS members,"
            " (SELECT body FROM policies p WHERE p.scope_kind = 'group' AND p.scope_id = g.id)"
            " AS policy FROM groups g LEFT JOIN member_groups mg ON mg.group_id = g.id"
            " WHERE g.organisation_id = ? GROUP BY g.id ORDER BY g.name",
            (organisation_id,),
        )
        for row in rows:
            row["policy"] = json.loads(row["policy"]) if row["policy"] else None
        return rows

    async def group(self, organisation_id: int, name: str) -> dict[str, Any] | None:
        return await self._one(
            "SELECT id, name FROM groups WHERE organisation_id = ? AND name = ?",
            (organisation_id, name),
        )

    async def policy(self, scope_kind: str, scope_id: int) -> dict[str, Any] | None:
        row = await self._one(
            "SELECT body, updated_at FROM policies WHERE scope_kind = ? AND scope_id = ?",
            (scope_kind, scope_id),
        )
        if row is None:
            return None
        return {"body": json.loads(row["body"]), "updated_at": row["updated_at"]}

    async def policies(self, organisation_id: int) -> list[dict[str, Any]]:
        """Every policy of the organisation with what it is attached to, most general first."""
        rows = await self._all(
            "SELECT p.scope_kind, p.scope_id, p.body, p.updated_at,"
            " CASE p.scope_kind WHEN 'group' THEN g.name WHEN 'member' THEN m.email END AS label"
            " FROM policies p"
            " LEFT JOIN groups g ON p.scope_kind = 'group' AND g.id = p.scope_id"
            " LEFT JOIN members m ON p.scope_kind = 'member' AND m.id = p.scope_id"
            " WHERE p.organisation_id = ?"
            " ORDER BY CASE p.scope_kind WHEN 'organisation' THEN 0 WHEN 'group' THEN 1 ELSE 2"
            " END, label, p.scope_id",
            (organisation_id,),
        )
        for row in rows:
            row["body"] = json.loads(row["body"])
        return rows

    # -- explain ----------------------------------------------------------------------------

    async def usage_rows(self, member_id: int, since: datetime) -> list[aiosqlite.Row]:
        """The member's transactions that may count against a cap (as ``PolicyStore``)."""
        return await self._db.fetchall(
            "SELECT id, charge_point_id, member_id, id_token, started_at, counted_at, created_at,"
            " state, energy_wh, meter_start_wh, meter_first_wh, meter_last_wh, cost"
            " FROM transactions WHERE member_id = ?"
            " AND (created_at >= ? OR counted_at >= ? OR state = 'Open') ORDER BY id",
            (member_id, to_text(since), to_text(since)),
        )

    async def explain_rows(
        self, token_id: int, member_id: int, charge_point_id: str, used_stations: set[str]
    ) -> Rows:
        """What one decision for this token at this station reads (see the module docstring).

        ``used_stations``: the stations of the member's sessions that usage counts.
        """
        f = self._db.fetchall
        station_ids = sorted({charge_point_id, *used_stations})
        marks = ", ".join("?" * len(station_ids))
        stations = await f(
            "SELECT charge_point_id, organisation_id, site_id, timezone, price_per_kwh,"
            f" session_fee FROM stations WHERE organisation_id IS NOT NULL"
            f" AND charge_point_id IN ({marks})",
            tuple(station_ids),
        )
        members = await f(
            "SELECT id, organisation_id, first_name, last_name, email, role, status,"
            " valid_until FROM members WHERE id = ?",
            (member_id,),
        )
        org_ids = sorted({r["organisation_id"] for r in stations} | {members[0]["organisation_id"]})
        org_marks = ", ".join("?" * len(org_ids))
        organisations = await f(
            "SELECT id, name, timezone, currency, price_per_kwh, session_fee, enforcement,"
            f" group_token, token_type_match FROM organisations WHERE id IN ({org_marks})",
            tuple(org_ids),
        )
        member_groups = await f(
            "SELECT member_id, group_id FROM member_groups WHERE member_id = ?", (member_id,)
        )
        group_ids = [r["group_id"] for r in member_groups]
        policies = await f(
            f"SELECT {_POLICY_COLUMNS} FROM policies p"
            " JOIN organisations o ON o.id = p.organisation_id JOIN members mb ON mb.id = ?"
            " WHERE (p.scope_kind = 'organisation' AND p.scope_id = mb.organisation_id)"
            " OR (p.scope_kind = 'member' AND p.scope_id = mb.id)"
            f" OR (p.scope_kind = 'group' AND p.scope_id IN ({', '.join('?' * len(group_ids))}))",
            (member_id, *group_ids),
        )
        return Rows(
            organisations=organisations,
            sites=await f(
                f"SELECT id, organisation_id, name FROM sites WHERE organisation_id IN"
                f" ({org_marks})",
                tuple(org_ids),
            ),
            stations=stations,
            members=members,
            member_groups=member_groups,
            tokens=await f(
                "SELECT value, type, member_id, status, expires_at FROM tokens WHERE id = ?",
                (token_id,),
            ),
            policies=policies,
        )
