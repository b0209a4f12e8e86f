"""Organisation settings, sites, groups and usage policies; what the policy cache reads."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeAlias

import aiosqlite

from gateway.store.database import Database
from gateway.store.members import token_key
from gateway.timeutil import to_text

SCOPES = ("organisation", "group", "member")


# What the policy cache reads, as plain tuples: columns in the order selected here.
MEMBER_COLUMNS = "id, organisation_id, first_name, last_name, email, role, status, valid_until"
TOKEN_COLUMNS = "value, type, member_id, status, expires_at"
POLICY_COLUMNS = "p.scope_kind, p.scope_id, p.body, o.currency, p.organisation_id"
SNAPSHOT_SQL = {
    "organisations": "SELECT id, name, timezone, currency, price_per_kwh, session_fee,"
    " enforcement, group_token, token_type_match FROM organisations",
    "sites": "SELECT id, organisation_id, name FROM sites",
    "stations": "SELECT charge_point_id, organisation_id, site_id, timezone, price_per_kwh,"
    " session_fee FROM stations WHERE organisation_id IS NOT NULL",
    "members": f"SELECT {MEMBER_COLUMNS} FROM members",
    "member_groups": "SELECT member_id, group_id FROM member_groups",
    "tokens": f"SELECT {TOKEN_COLUMNS} FROM tokens",
    "policies": f"SELECT {POLICY_COLUMNS} FROM policies p"
    " JOIN organisations o ON o.id = p.organisation_id",
}
_IDS = "(SELECT value FROM json_each(?))"  # one parameter, any number of ids
_MEMBER_SQL = {
    "members": f"SELECT {MEMBER_COLUMNS} FROM members WHERE id IN {_IDS}",
    "member_groups": f"SELECT member_id, group_id FROM member_groups WHERE member_id IN {_IDS}",
    "tokens": f"SELECT {TOKEN_COLUMNS} FROM tokens"
    f" WHERE member_id IN {_IDS} OR value_key IN {_IDS}",
    "policies": f"SELECT {POLICY_COLUMNS} FROM policies p"
    " JOIN organisations o ON o.id = p.organisation_id"
    f" WHERE p.scope_kind = 'member' AND p.scope_id IN {_IDS}",
    "sites": f"SELECT id, organisation_id, name FROM sites WHERE organisation_id IN {_IDS}",
}
_GENERATION_SQL = "SELECT value FROM meta WHERE key = 'cache_generation'"
Row: TypeAlias = tuple[Any, ...] | sqlite3.Row  # plain tuples; `sqlite3.Row`s read the same


@dataclass(frozen=True, slots=True)
class Rows:
    """Everything the policy snapshot is built from, read in one transaction.

    Plain tuples (or `sqlite3.Row`s) with the columns `SNAPSHOT_SQL` selects,
    in that order.
    `generation` is the cache generation (``meta.cache_generation``) in that
    same transaction: the rows hold every change it counts, and no other.
    """

    organisations: Sequence[Row]
    sites: Sequence[Row]
    stations: Sequence[Row]
    members: Sequence[Row]
    member_groups: Sequence[Row]
    tokens: Sequence[Row]
    policies: Sequence[Row]
    generation: int = 0


@dataclass(frozen=True, slots=True)
class MemberRows:
    """Some members' rows as `Rows` has them, read in one transaction.

    Their member rows and groups, their tokens and those with the values
    asked for (wherever they are now), their member-scope policies and the
    sites of those policies' organisations (policies name sites).
    """

    members: Sequence[Row]
    member_groups: Sequence[Row]
    tokens: Sequence[Row]
    policies: Sequence[Row]
    sites: Sequence[Row]
    generation: int


def _connect(path: Path) -> sqlite3.Connection:
    """A read-only connection of the cache's own, for reads in one transaction."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 10000")
    conn.execute("PRAGMA query_only = ON")
    return conn


def _read_rows(path: Path) -> Rows:
    conn = _connect(path)
    try:
        conn.execute("BEGIN")  # the first SELECT starts one read transaction for all
        tables = {name: conn.execute(sql).fetchall() for name, sql in SNAPSHOT_SQL.items()}
        generation = conn.execute(_GENERATION_SQL).fetchone()
        conn.execute("COMMIT")
    finally:
        conn.close()
    return Rows(**tables, generation=int(generation[0]) if generation else 0)


def _read_member_rows(
    conn: sqlite3.Connection, member_ids: Collection[int], token_keys: Collection[str]
) -> MemberRows:
    ids, keys = json.dumps(list(member_ids)), json.dumps(list(token_keys))
    conn.execute("BEGIN")
    try:
        generation = conn.execute(_GENERATION_SQL).fetchone()
        read = conn.execute
        members = read(_MEMBER_SQL["members"], (ids,)).fetchall()
        groups = read(_MEMBER_SQL["member_groups"], (ids,)).fetchall()
        tokens = read(_MEMBER_SQL["tokens"], (ids, keys)).fetchall()
        policies = read(_MEMBER_SQL["policies"], (ids,)).fetchall()
        organisations = json.dumps(sorted({row[4] for row in policies}))
        sites = read(_MEMBER_SQL["sites"], (organisations,)).fetchall() if policies else []
    finally:
        conn.execute("COMMIT")
    return MemberRows(
        members, groups, tokens, policies, sites, int(generation[0]) if generation else 0
    )


class PolicyStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._member_reader: sqlite3.Connection | None = None
        self._member_reader_lock = asyncio.Lock()

    async def update_organisation(self, organisation_id: int, **fields: Any) -> None:
        """Set any of: timezone, currency, price_per_kwh (minor units text), session_fee,
        enforcement, group_token, token_type_match."""
        allowed = {
            "timezone",
            "currency",
            "price_per_kwh",
            "session_fee",
            "enforcement",
            "group_token",
            "token_type_match",
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
        """Every row the policy snapshot is built from (see `Rows`).

        Read in one transaction, on a connection of its own in a worker
        thread (the shared reader must not be held in a transaction: others'
        reads would see the past meanwhile), as plain tuples (a million
        `sqlite3.Row`s are slower to make and to read).
        """
        return await asyncio.to_thread(_read_rows, self._db.path)

    async def member_rows(
        self, member_ids: Collection[int], token_values: Collection[str]
    ) -> MemberRows:
        """These members' rows now, and the tokens with these values (see `MemberRows`).

        Read in one transaction on the cache's own connection, kept open for
        the next (opening one costs more than the reads); `close_readers`
        closes it.
        """
        keys = {token_key(value) for value in token_values}
        async with self._member_reader_lock:
            if self._member_reader is None:
                self._member_reader = _connect(self._db.path)
            return await asyncio.to_thread(_read_member_rows, self._member_reader, member_ids, keys)

    def close_readers(self) -> None:
        """Close the connection `member_rows` keeps open (if any)."""
        if self._member_reader is not None:
            self._member_reader.close()
            self._member_reader = None

    async def writer_data_version(self) -> int:
        """``PRAGMA data_version`` as the writing connection sees it.

        It changes when, and only when, another connection has committed since
        (SQLite: a connection's own commits do not change it). This process
        writes through that one connection, so a change means that another
        process (the CLI, a ``sqlite3`` shell) wrote to the database.
        """

        async def op(db: aiosqlite.Connection) -> int:
            rows = list(await db.execute_fetchall("PRAGMA data_version"))
            return int(rows[0][0])

        return await self._db.write(op)

    async def usage_rows(self, since: datetime) -> list[aiosqlite.Row]:
        """Transactions that may count against a cap: counted since ``since``, or still open.

        Rows of schema 5 and before have no ``counted_at``: the rule of
        ``policy_engine.start_time`` gives it from ``started_at`` and ``created_at``, and
        is never later than ``created_at``, so they are selected by ``created_at``.
        """
        return await self._db.fetchall(
            "SELECT id, charge_point_id, member_id, id_token, started_at, counted_at, created_at,"
            " state, energy_wh, meter_start_wh, meter_first_wh, meter_last_wh, cost"
            " FROM transactions"
            " WHERE member_id IS NOT NULL"
            " AND (created_at >= ? OR counted_at >= ? OR state = 'Open')"
            " ORDER BY id",
            (to_text(since), to_text(since)),
        )
