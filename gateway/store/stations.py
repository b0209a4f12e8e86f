"""Stations (charge points): identity, password hash, boot information."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import aiosqlite

from gateway.store.database import Database
from gateway.timeutil import to_text


@dataclass(frozen=True, slots=True)
class StationRecord:
    charge_point_id: str
    password_hash: str
    organisation_id: int | None
    site: str | None
    timezone: str | None
    accepted_once: bool
    ocpp_version: str | None


class DuplicateError(Exception):
    """The record already exists."""


class StationStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, charge_point_id: str) -> StationRecord | None:
        row = await self._db.fetchone(
            "SELECT charge_point_id, password_hash, organisation_id, site, timezone,"
            " accepted_once, ocpp_version FROM stations WHERE charge_point_id = ?",
            (charge_point_id,),
        )
        if row is None:
            return None
        return StationRecord(row[0], row[1], row[2], row[3], row[4], bool(row[5]), row[6])

    async def add(
        self,
        charge_point_id: str,
        password_hash: str,
        now: datetime,
        *,
        organisation_id: int | None = None,
        site: str | None = None,
        timezone: str | None = None,
    ) -> None:
        async def op(db: aiosqlite.Connection) -> None:
            try:
                await db.execute(
                    "INSERT INTO stations (charge_point_id, password_hash, organisation_id, site,"
                    " timezone, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (charge_point_id, password_hash, organisation_id, site, timezone, to_text(now)),
                )
            except aiosqlite.IntegrityError:
                raise DuplicateError(f"station {charge_point_id} already exists") from None
            if site is not None and organisation_id is not None:
                await db.execute(
                    "INSERT OR IGNORE INTO sites (organisation_id, name) VALUES (?, ?)",
                    (organisation_id, site),
                )
                await db.execute(
                    "UPDATE stations SET site_id = (SELECT id FROM sites WHERE organisation_id = ?"
                    " AND name = ?) WHERE charge_point_id = ?",
                    (organisation_id, site, charge_point_id),
                )

        await self._db.write(op)

    async def set_password(self, charge_point_id: str, password_hash: str) -> bool:
        async def op(db: aiosqlite.Connection) -> bool:
            cur = await db.execute(
                "UPDATE stations SET password_hash = ? WHERE charge_point_id = ?",
                (password_hash, charge_point_id),
            )
            return cur.rowcount == 1

        return await self._db.write(op)

    async def remove(self, charge_point_id: str) -> bool:
        async def op(db: aiosqlite.Connection) -> bool:
            cur = await db.execute(
                "DELETE FROM stations WHERE charge_point_id = ?", (charge_point_id,)
            )
            return cur.rowcount == 1

        return await self._db.write(op)

    async def list(self) -> list[dict[str, object]]:
        rows = await self._db.fetchall(
            "SELECT charge_point_id, site, timezone, accepted_once, ocpp_version, vendor, model,"
            " firmware_version, last_boot_at FROM stations ORDER BY charge_point_id"
        )
        return [dict(row) for row in rows]

    async def record_boot(
        self, charge_point_id: str, ocpp_version: str, info: dict[str, str | None], now: datetime
    ) -> None:
        """A BootNotification was accepted: remember it (later reconnects may skip booting)."""

        async def op(db: aiosqlite.Connection) -> None:
            await db.execute(
                "UPDATE stations SET accepted_once = 1, ocpp_version = ?, vendor = ?, model = ?,"
                " serial_number = ?, firmware_version = ?, last_boot_at = ?"
                " WHERE charge_point_id = ?",
                (
                    ocpp_version,
                    info.get("vendor"),
                    info.get("model"),
                    info.get("serial_number"),
                    info.get("firmware_version"),
                    to_text(now),
                    charge_point_id,
                ),
            )

        await self._db.write(op)
