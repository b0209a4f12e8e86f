"""Organisation settings, sites, groups and usage policies."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiosqlite

from gateway.store.database import Database
from gateway.timeutil import to_text

SCOPES = ("organisation", "group", "member")


@dataclass(frozen=True, slots=True)
class Rows:
    """Everything the policy snapshot is built from, as read in one go."""

    organisations: list[aiosqlite.Row]
    sites: list[aiosqlite.Row]
    stations: list[aiosqlite.Row]
    members: list[aiosqlite.Row]
    member_groups: list[aiosqlite.Row]
    tokens: list[aiosqlite.Row]
    policies: list[aiosqlite.Row]


class PolicyStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def update_organisation(self, organisation_id: int, **fields: Any) -> None:
        """Set any of: timezone, currency, price_per_kwh (minor units text), session_fee,
        enforcement, group_token."""
        allowed = {
            "timezone",
            "currency",
            "price_per_kwh",
            "session_fee",
            "enforcement",
            "group_token",
        }
        changes = {k: v for k, v in fields.items() if v is not None}
        if not changes:
            return
        if not set(changes) <= allowed:
            raise ValueError(f"unknown organisation fields: {set(changes) - allowed}")
        assignments = ", ".join(f"{k} = :{k}" for k in changes)

        async def op(db: aiosqlite.Connection) -> None:
            await db.execute(
                f"UPDATE organisations SET {assignments} WHERE id = :id",
                {**changes, "id": organisation_id},
            )

        await self._db.write(op)

    async def organisation(self, name: str) -> dict[str, Any] | None:
        row = await self._db.fetchone("SELECT * FROM organisations WHERE name = ?", (name,))
        return dict(row) if row else None

    async def ensure_site(self, organisation_id: int, name: str) -> int:
        return await self._ensure("sites", organisation_id, name)

    async def ensure_group(self, organisation_id: int, name: str) -> int:
        return await self._ensure("groups", organisation_id, name)

    async def _ensure(self, table: str, organisation_id: int, name: str) -> int:
        async def op(db: aiosqlite.Connection) -> int:
            async with db.execute(
                f"SELECT id FROM {table} WHERE organisation_id = ? AND name = ?",
                (organisation_id, name),
            ) as cur:
                row = await cur.fetchone()
            if row is not None:
                return int(row[0])
            cur = await db.execute(
                f"INSERT INTO {table} (organisation_id, name) VALUES (?, ?)",
                (organisation_id, name),
            )
            assert cur.lastrowid is not None
            return cur.lastrowid

        return await self._db.write(op)

    async def site_ids(self, organisation_id: int) -> dict[str, int]:
        rows = await self._db.fetchall(
            "SELECT name, id FROM sites WHERE organisation_id = ?", (organisation_id,)
        )
        return {row[0]: int(row[1]) for row in rows}

    async def group_id(self, organisation_id: int, name: str) -> int | None:
        row = await self._db.fetchone(
            "SELECT id FROM groups WHERE organisation_id = ? AND name = ?", (organisation_id, name)
        )
        return int(row[0]) if row else None

    async def add_to_group(self, member_id: int, group_id: int) -> None:
        async def op(db: aiosqlite.Connection) -> None:
            await db.execute(
                "INSERT OR IGNORE INTO member_groups (member_id, group_id) VALUES (?, ?)",
                (member_id, group_id),
            )

        await self._db.write(op)

    async def set_station_site(self, charge_point_id: str, site_id: int) -> None:
        async def op(db: aiosqlite.Connection) -> None:
            await db.execute(
                "UPDATE stations SET site_id = ?, site = (SELECT name FROM sites WHERE id = ?)"
                " WHERE charge_point_id = ?",
                (site_id, site_id, charge_point_id),
            )

        await self._db.write(op)

    async def set_policy(
        self, organisation_id: int, scope: str, scope_id: int, body: dict[str, Any], now: datetime
    ) -> None:
        if scope not in SCOPES:
            raise ValueError(f"scope is one of {SCOPES}")

        async def op(db: aiosqlite.Connection) -> None:
            await db.execute(
                "INSERT INTO policies (organisation_id, scope_kind, scope_id, body, updated_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (scope_kind, scope_id)"
                " DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at",
                (organisation_id, scope, scope_id, json.dumps(body), to_text(now)),
            )

        await self._db.write(op)

    async def get_policy(self, scope: str, scope_id: int) -> dict[str, Any] | None:
        row = await self._db.fetchone(
            "SELECT body FROM policies WHERE scope_kind = ? AND scope_id = ?", (scope, scope_id)
        )
        return json.loads(row[0]) if row else None

    async def delete_policy(self, scope: str, scope_id: int) -> bool:
        async def op(db: aiosqlite.Connection) -> bool:
            cur = await db.execute(
                "DELETE FROM policies WHERE scope_kind = ? AND scope_id = ?", (scope, scope_id)
            )
            return cur.rowcount == 1

        return await self._db.write(op)

    async def rows(self) -> Rows:
        f = self._db.fetchall
        return Rows(
            organisations=await f(
                "SELECT id, name, timezone, currency, price_per_kwh, session_fee, enforcement,"
                " group_token FROM organisations"
            ),
            sites=await f("SELECT id, organisation_id, name FROM sites"),
            stations=await f(
                "SELECT charge_point_id, organisation_id, site_id, timezone, price_per_kwh,"
                " session_fee FROM stations WHERE organisation_id IS NOT NULL"
            ),
            members=await f(
                "SELECT id, organisation_id, first_name, last_name, email, role, status,"
                " valid_until FROM members"
            ),
            member_groups=await f("SELECT member_id, group_id FROM member_groups"),
            tokens=await f("SELECT value, type, member_id, status, expires_at FROM tokens"),
            policies=await f(
                "SELECT p.scope_kind, p.scope_id, p.body, o.currency, p.organisation_id"
                " FROM policies p JOIN organisations o ON o.id = p.organisation_id"
            ),
        )

    async def usage_rows(self, since: datetime) -> list[aiosqlite.Row]:
        """Transactions that may count against a cap: started since ``since``, or still open."""
        return await self._db.fetchall(
            "SELECT id, charge_point_id, member_id, id_token, started_at, state, energy_wh,"
            " meter_start_wh, meter_first_wh, meter_last_wh, cost FROM transactions"
            " WHERE member_id IS NOT NULL AND (started_at >= ? OR state = 'Open')"
            " ORDER BY id",
            (to_text(since),),
        )
