"""Member management records: member views, API tokens, the audit log.

Reads go through the reader connection; each write op runs inside the
group-commit writer and writes its audit entry in the same transaction as
the change it records (see :func:`audit`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiosqlite

from gateway.store.database import Database
from gateway.timeutil import to_text

MEMBER_FIELDS = (
    "id", "organisation_id", "identifier", "first_name", "last_name", "email", "phone", "role",
    "extra_roles", "permissions", "status", "valid_until", "last_activity_at", "created_at",
    "updated_at",
)  # fmt: skip
MEMBER_COLUMNS = ", ".join(MEMBER_FIELDS)
_M_COLUMNS = ", ".join("m." + name for name in MEMBER_FIELDS)
# Last activity: the member's latest session start (index transactions_member), else what
# was recorded on the member. Derived when read, so charging costs no extra write.
_LISTED_COLUMNS = _M_COLUMNS.replace(
    "m.last_activity_at",
    "coalesce((SELECT max(t.started_at) FROM transactions t WHERE t.member_id = m.id),"
    " m.last_activity_at) AS last_activity_at",
)


def hash_secret(secret: str) -> str:
    """API and invitation tokens are 256-bit random secrets: a plain SHA-256 suffices."""
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class MemberFilter:
    status: str | None = None
    role: str | None = None
    group: str | None = None
    search: str | None = None
    include_ids: Sequence[int] | None = None


async def audit(
    db: aiosqlite.Connection,
    *,
    organisation_id: int,
    actor_member_id: int | None,
    actor: str,
    action: str,
    target_kind: str,
    target_id: object,
    before: Any,
    after: Any,
    now: datetime,
) -> None:
    """Record one operator action; call it inside the write op that makes the change."""
    await db.execute(
        "INSERT INTO audit_log (organisation_id, actor_member_id, actor, action, target_kind,"
        " target_id, before, after, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            organisation_id,
            actor_member_id,
            actor,
            action,
            target_kind,
            None if target_id is None else str(target_id),
            None if before is None else json.dumps(before, default=str, sort_keys=True),
            None if after is None else json.dumps(after, default=str, sort_keys=True),
            to_text(now),
        ),
    )


async def member_record(db: aiosqlite.Connection, member_id: int) -> dict[str, Any] | None:
    """A member as the audit log shows it (inside a write op: sees the op's own changes)."""
    async with db.execute(
        f"SELECT {MEMBER_COLUMNS} FROM members WHERE id = ? AND deleted_at IS NULL", (member_id,)
    ) as cur:
        row = await cur.fetchone()
    if row is None:
        return None
    record = dict(row)
    record["extra_roles"] = json.loads(record["extra_roles"])
    record["permissions"] = json.loads(record["permissions"])
    async with db.execute(
        "SELECT g.name FROM member_groups mg JOIN groups g ON g.id = mg.group_id"
        " WHERE mg.member_id = ? ORDER BY g.name",
        (member_id,),
    ) as cur:
        record["groups"] = [r[0] for r in await cur.fetchall()]
    async with db.execute(
        "SELECT value, type, status, expires_at FROM tokens WHERE member_id = ? ORDER BY value",
        (member_id,),
    ) as cur:
        record["tokens"] = [dict(r) for r in await cur.fetchall()]
    async with db.execute(
        "SELECT body FROM policies WHERE scope_kind = 'member' AND scope_id = ?", (member_id,)
    ) as cur:
        row = await cur.fetchone()
    record["policy"] = json.loads(row[0]) if row else None
    return record


class AdminStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    @property
    def db(self) -> Database:
        return self._db

    # -- API tokens -------------------------------------------------------------------------

    async def token_owner(self, token_hash: str) -> aiosqlite.Row | None:
        """The member an unrevoked API token belongs to, with the token's id."""
        return await self._db.fetchone(
            f"SELECT t.id AS token_id, {_M_COLUMNS}"
            " FROM api_tokens t JOIN members m ON m.id = t.member_id"
            " WHERE t.token_hash = ? AND t.revoked_at IS NULL AND m.deleted_at IS NULL",
            (token_hash,),
        )

    async def api_tokens(self, member_ids: Iterable[int]) -> list[dict[str, Any]]:
        ids = list(member_ids)
        rows = await self._db.fetchall(
            "SELECT id, member_id, name, prefix, created_at, last_used_at, revoked_at"
            f" FROM api_tokens WHERE member_id IN ({', '.join('?' * len(ids))}) ORDER BY id",
            tuple(ids),
        )
        return [dict(r) for r in rows]

    async def api_token(self, token_id: int) -> dict[str, Any] | None:
        row = await self._db.fetchone(
            "SELECT id, member_id, name, prefix, created_at, last_used_at, revoked_at"
            " FROM api_tokens WHERE id = ?",
            (token_id,),
        )
        return dict(row) if row else None

    # -- members ----------------------------------------------------------------------------

    async def member(self, organisation_id: int, member_id: int) -> dict[str, Any] | None:
        found = await self.members(organisation_id, MemberFilter(include_ids=[member_id]), 0, 1)
        return found[1][0] if found[1] else None

    async def members(
        self, organisation_id: int, where: MemberFilter, offset: int, limit: int
    ) -> tuple[int, list[dict[str, Any]]]:
        """(total matching, one page) of the organisation's members, by last name then id."""
        clauses = ["m.organisation_id = ?", "m.deleted_at IS NULL"]
        params: list[Any] = [organisation_id]
        if where.status:
            clauses.append("m.status = ?")
            params.append(where.status)
        if where.role:
            clauses.append(
                "(m.role = ? OR EXISTS (SELECT 1 FROM json_each(m.extra_roles) r"
                " WHERE r.value = ?))"
            )
            params += [where.role, where.role]
        if where.group:
            clauses.append(
                "EXISTS (SELECT 1 FROM member_groups mg JOIN groups g ON g.id = mg.group_id"
                " WHERE mg.member_id = m.id AND g.name = ?)"
            )
            params.append(where.group)
        if where.search:
            clauses.append(
                "(lower(m.first_name || ' ' || m.last_name) LIKE ? ESCAPE '\\'"
                " OR lower(coalesce(m.email, '')) LIKE ? ESCAPE '\\'"
                " OR lower(coalesce(m.identifier, '')) LIKE ? ESCAPE '\\')"
            )
            pattern = "%" + _like_escape(where.search.lower()) + "%"
            params += [pattern, pattern, pattern]
        if where.include_ids is not None:
            clauses.append(f"m.id IN ({', '.join('?' * len(where.include_ids))})")
            params += list(where.include_ids)
        sql_where = " AND ".join(clauses)
        total_row = await self._db.fetchone(
            f"SELECT count(*) FROM members m WHERE {sql_where}", tuple(params)
        )
        rows = await self._db.fetchall(
            f"SELECT {_LISTED_COLUMNS} FROM members m WHERE {sql_where}"
            " ORDER BY lower(m.last_name), lower(m.first_name), m.id LIMIT ? OFFSET ?",
            (*params, limit, offset),
        )
        members = [dict(r) for r in rows]
        await self._attach(members)
        return (int(total_row[0]) if total_row else 0), members

    async def _attach(self, members: list[dict[str, Any]]) -> None:
        """Groups, tokens and member-scope policy of each member on a page."""
        if not members:
            return
        ids = [m["id"] for m in members]
        marks = ", ".join("?" * len(ids))
        by_id = {m["id"]: m for m in members}
        for m in members:
            m["extra_roles"] = json.loads(m["extra_roles"])
            m["permissions"] = json.loads(m["permissions"])
            m["groups"], m["tokens"], m["policy"] = [], [], None
        for row in await self._db.fetchall(
            "SELECT mg.member_id, g.name FROM member_groups mg JOIN groups g ON g.id = mg.group_id"
            f" WHERE mg.member_id IN ({marks}) ORDER BY g.name",
            tuple(ids),
        ):
            by_id[row[0]]["groups"].append(row[1])
        for row in await self._db.fetchall(
            "SELECT member_id, value, type, status, expires_at FROM tokens"
            f" WHERE member_id IN ({marks}) ORDER BY value",
            tuple(ids),
        ):
            by_id[row[0]]["tokens"].append(
                {"value": row[1], "type": row[2], "status": row[3], "expires_at": row[4]}
            )
        for row in await self._db.fetchall(
            "SELECT scope_id, body FROM policies WHERE scope_kind = 'member'"
            f" AND scope_id IN ({marks})",
            tuple(ids),
        ):
            by_id[row[0]]["policy"] = json.loads(row[1])

    async def owner_count(self, organisation_id: int) -> int:
        row = await self._db.fetchone(
            "SELECT count(*) FROM members WHERE organisation_id = ? AND role = 'Owner'"
            " AND deleted_at IS NULL",
            (organisation_id,),
        )
        return int(row[0]) if row else 0

    async def owner_id(self, organisation_id: int) -> int | None:
        row = await self._db.fetchone(
            "SELECT id FROM members WHERE organisation_id = ? AND role = 'Owner'"
            " AND deleted_at IS NULL ORDER BY id LIMIT 1",
            (organisation_id,),
        )
        return int(row[0]) if row else None

    async def member_id_by_ref(self, organisation_id: int, ref: str) -> int | None:
        """A member named by id, email or identifier (the command line's way to name one);
        digits are an id first, then an identifier."""
        if ref.isdigit() and int(ref) < 2**63:
            found = await self.member(organisation_id, int(ref))
            if found is not None:
                return int(found["id"])
        row = await self._db.fetchone(
            "SELECT id FROM members WHERE organisation_id = ? AND deleted_at IS NULL"
            " AND (lower(email) = lower(?) OR lower(identifier) = lower(?))",
            (organisation_id, ref, ref),
        )
        return int(row[0]) if row else None

    async def group_member_ids(self, organisation_id: int, group: str) -> list[int] | None:
        """The members of a group (by name), None when the organisation has no such group."""
        found = await self._db.fetchone(
            "SELECT id FROM groups WHERE organisation_id = ? AND name = ?", (organisation_id, group)
        )
        if found is None:
            return None
        rows = await self._db.fetchall(
            "SELECT mg.member_id FROM member_groups mg JOIN members m ON m.id = mg.member_id"
            " WHERE mg.group_id = ? AND m.deleted_at IS NULL ORDER BY mg.member_id",
            (found[0],),
        )
        return [int(r[0]) for r in rows]

    # -- organisations ----------------------------------------------------------------------

    async def organisation(self, organisation_id: int) -> dict[str, Any] | None:
        row = await self._db.fetchone(
            "SELECT id, name, timezone, currency FROM organisations WHERE id = ?",
            (organisation_id,),
        )
        return dict(row) if row else None

    async def organisations(self) -> list[tuple[int, str]]:
        """Every organisation (id, name), by name."""
        rows = await self._db.fetchall("SELECT id, name FROM organisations ORDER BY name, id", ())
        return [(int(row[0]), str(row[1])) for row in rows]

    async def organisation_id(self, name: str) -> int | None:
        row = await self._db.fetchone("SELECT id FROM organisations WHERE name = ?", (name,))
        return int(row[0]) if row else None

    # -- invitations ------------------------------------------------------------------------

    async def invitation(self, token_hash: str) -> dict[str, Any] | None:
        """An invitation by its secret's hash, with its member's organisation, email and roles."""
        row = await self._db.fetchone(
            "SELECT i.id, i.member_id, i.invited_by, i.created_at, i.expires_at, i.accepted_at,"
            " i.revoked_at, m.organisation_id, o.name AS organisation, m.email, m.first_name,"
            " m.last_name, m.role, m.extra_roles, m.status"
            " FROM invitations i JOIN members m ON m.id = i.member_id"
            " JOIN organisations o ON o.id = m.organisation_id"
            " WHERE i.token_hash = ? AND m.deleted_at IS NULL",
            (token_hash,),
        )
        if row is None:
            return None
        found = dict(row)
        found["extra_roles"] = json.loads(found["extra_roles"])
        return found

    async def invitations(self, member_id: int) -> list[dict[str, Any]]:
        rows = await self._db.fetchall(
            "SELECT id, member_id, invited_by, created_at, expires_at, accepted_at, revoked_at"
            " FROM invitations WHERE member_id = ? ORDER BY id",
            (member_id,),
        )
        return [dict(r) for r in rows]

    # -- audit ------------------------------------------------------------------------------

    async def audit_entries(
        self,
        organisation_id: int,
        *,
        member_id: int | None = None,
        actor_member_id: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> tuple[int, list[dict[str, Any]]]:
        """Entries, newest first; ``member_id`` matches entries whose target is that member."""
        clauses, params = ["organisation_id = ?"], [organisation_id]  # type: list[str], list[Any]
        if member_id is not None:
            clauses.append("target_kind = 'member' AND target_id = ?")
            params.append(str(member_id))
        if actor_member_id is not None:
            clauses.append("actor_member_id = ?")
            params.append(actor_member_id)
        if since is not None:
            clauses.append("at >= ?")
            params.append(to_text(since))
        if until is not None:
            clauses.append("at < ?")
            params.append(to_text(until))
        where = " AND ".join(clauses)
        total = await self._db.fetchone(
            f"SELECT count(*) FROM audit_log WHERE {where}", tuple(params)
        )
        rows = await self._db.fetchall(
            "SELECT id, actor_member_id, actor, action, target_kind, target_id, before, after, at"
            f" FROM audit_log WHERE {where} ORDER BY id DESC LIMIT ? OFFSET ?",
            (*params, limit, offset),
        )
        entries = []
        for row in rows:
            entry = dict(row)
            for key in ("before", "after"):
                entry[key] = json.loads(entry[key]) if entry[key] is not None else None
            entries.append(entry)
        return (int(total[0]) if total else 0), entries


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
