"""Organisations, members and their tokens, as the authorization cache reads them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import aiosqlite

from gateway.store.database import Database
from gateway.store.stations import DuplicateError
from gateway.timeutil import to_text


def token_key(value: str) -> str:
    """OCPP compares idTag / idToken values case-insensitively."""
    return value.strip().upper()


@dataclass(frozen=True, slots=True)
class TokenGrant:
    """One token with what authorization needs to know of it and of its member."""

    value: str
    token_status: str
    token_expires_at: str | None
    member_id: int
    member_status: str
    member_valid_until: str | None
    organisation_id: int
    group_token: str | None


class MemberStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    @property
    def db(self) -> Database:
        return self._db

    async def cache_generation(self) -> int:
        row = await self._db.fetchone("SELECT value FROM meta WHERE key = 'cache_generation'")
        return int(row[0]) if row else 0

    async def ensure_organisation(
        self, name: str, now: datetime, *, timezone: str = "UTC", group_token: str | None = None
    ) -> int:
        async def op(db: aiosqlite.Connection) -> int:
            async with db.execute("SELECT id FROM organisations WHERE name = ?", (name,)) as cur:
                row = await cur.fetchone()
            if row is not None:
                return int(row[0])
            cur = await db.execute(
                "INSERT INTO organisations (name, timezone, group_token, created_at)"
                " VALUES (?, ?, ?, ?)",
                (name, timezone, group_token, to_text(now)),
            )
            assert cur.lastrowid is not None
            return cur.lastrowid

        return await self._db.write(op)

    async def add_member(
        self,
        organisation_id: int,
        now: datetime,
        *,
        first_name: str = "",
        last_name: str = "",
        email: str | None = None,
        status: str = "Active",
        valid_until: datetime | None = None,
    ) -> int:
        async def op(db: aiosqlite.Connection) -> int:
            try:
                cur = await db.execute(
                    "INSERT INTO members (organisation_id, first_name, last_name, email, status,"
                    " valid_until, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        organisation_id,
                        first_name,
                        last_name,
                        email,
                        status,
                        to_text(valid_until) if valid_until else None,
                        to_text(now),
                        to_text(now),
                    ),
                )
            except aiosqlite.IntegrityError:
                raise DuplicateError(f"a member with email {email} already exists") from None
            assert cur.lastrowid is not None
            return cur.lastrowid

        return await self._db.write(op)

    async def find_member(self, organisation_id: int, email: str) -> int | None:
        row = await self._db.fetchone(
            "SELECT id FROM members WHERE organisation_id = ? AND lower(email) = lower(?)",
            (organisation_id, email),
        )
        return int(row[0]) if row else None

    async def set_member_status(self, member_id: int, status: str, now: datetime) -> bool:
        async def op(db: aiosqlite.Connection) -> bool:
            cur = await db.execute(
                "UPDATE members SET status = ?, updated_at = ? WHERE id = ?",
                (status, to_text(now), member_id),
            )
            return cur.rowcount == 1

        return await self._db.write(op)

    async def add_token(
        self,
        value: str,
        member_id: int,
        now: datetime,
        *,
        token_type: str = "ISO14443",
        status: str = "Active",
        expires_at: datetime | None = None,
    ) -> None:
        async def op(db: aiosqlite.Connection) -> None:
            try:
                await db.execute(
                    "INSERT INTO tokens (value, value_key, type, member_id, status, expires_at,"
                    " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        value,
                        token_key(value),
                        token_type,
                        member_id,
                        status,
                        to_text(expires_at) if expires_at else None,
                        to_text(now),
                    ),
                )
            except aiosqlite.IntegrityError:
                raise DuplicateError(f"token {value} already exists") from None

        await self._db.write(op)

    async def set_token_status(self, value: str, status: str) -> bool:
        async def op(db: aiosqlite.Connection) -> bool:
            cur = await db.execute(
                "UPDATE tokens SET status = ? WHERE value_key = ?", (status, token_key(value))
            )
            return cur.rowcount == 1

        return await self._db.write(op)

    async def list_tokens(self) -> list[dict[str, object]]:
        rows = await self._db.fetchall(
            "SELECT t.value, t.type, t.status, t.expires_at, m.id AS member_id,"
            " m.first_name || ' ' || m.last_name AS member, m.email, m.status AS member_status"
            " FROM tokens t JOIN members m ON m.id = t.member_id ORDER BY t.value"
        )
        return [dict(row) for row in rows]

    async def grants(self) -> dict[str, TokenGrant]:
        """Every token keyed by :func:`token_key`, joined with its member and organisation."""
        rows = await self._db.fetchall(
            "SELECT t.value, t.value_key, t.status, t.expires_at, m.id, m.status, m.valid_until,"
            " m.organisation_id, o.group_token"
            " FROM tokens t JOIN members m ON m.id = t.member_id"
            " JOIN organisations o ON o.id = m.organisation_id"
        )
        return {
            row[1]: TokenGrant(row[0], row[2], row[3], row[4], row[5], row[6], row[7], row[8])
            for row in rows
        }
