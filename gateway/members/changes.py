"""The writes a member change is made of, run inside one write op (see ``AdminContext.change``).

Each function takes the writer connection of the op it is part of, so a
change (member, its tokens, groups, policy, invitation, audit entry) commits
or fails as a whole. They raise the service errors of
:mod:`gateway.members.errors`; raising inside an op rolls the op back.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import aiosqlite
from pydantic import ValidationError

from gateway.members.errors import Conflict, Invalid
from gateway.members.inputs import NewMember, TokenInput
from gateway.members.policy_spec import PolicySpec, to_policy
from gateway.store.members import token_key
from gateway.timeutil import to_text


def policy_body(body: Mapping[str, Any], sites: Mapping[str, int], currency: str) -> dict[str, Any]:
    """A member policy as stored (``policy_spec`` format), or Invalid naming the bad key.

    Beyond the format (which bounds every limit, see ``policy_spec.MAX_LIMIT``), the policy
    must convert to the engine's (what the cache will do with it): a bad policy is refused
    here, before it is stored, never found by the cache after the commit.
    """
    try:
        spec = PolicySpec.model_validate(body)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in ("policy", *err["loc"]))
        raise Invalid(f"{where}: {err['msg']}", field=where) from None
    unknown = spec.site_names() - set(sites)
    if unknown:
        raise Invalid(
            f"policy.sites: no site {', '.join(sorted(unknown))} in this organisation",
            field="policy.sites",
        )
    try:
        to_policy(spec, currency, sites)
    except (ArithmeticError, ValueError) as exc:
        raise Invalid(f"policy: cannot be applied ({exc!r})", field="policy") from None
    return spec.model_dump(mode="json", exclude_none=True)


async def site_names(db: aiosqlite.Connection, organisation_id: int) -> set[str]:
    async with db.execute(
        "SELECT name FROM sites WHERE organisation_id = ?", (organisation_id,)
    ) as cur:
        return {row[0] for row in await cur.fetchall()}


async def ensure_unique(
    db: aiosqlite.Connection,
    organisation_id: int,
    member_id: int | None,
    *,
    email: str | None = None,
    identifier: str | None = None,
) -> None:
    """Conflict when another member of the organisation has this email or identifier."""
    for column, value in (("email", email), ("identifier", identifier)):
        if value is None:
            continue
        async with db.execute(
            f"SELECT id, status FROM members WHERE organisation_id = ? AND id IS NOT ?"
            f" AND lower({column}) = lower(?)",
            (organisation_id, member_id, value),
        ) as cur:
            row = await cur.fetchone()
        if row is not None:
            hint = " (invited, Pending: re-send the invitation)" if row[1] == "Pending" else ""
            raise Conflict(f"member {row[0]} already has the {column} {value}{hint}", field=column)


async def insert_member(
    db: aiosqlite.Connection,
    organisation_id: int,
    new: NewMember,
    policy: dict[str, Any] | None,
    status: str,
    now: datetime,
) -> int:
    """A new member with its tokens, groups and policy; the caller writes the audit entry."""
    await ensure_unique(db, organisation_id, None, email=new.email, identifier=new.identifier)
    extra = extra_roles(new.role, new.extra_roles)
    cur = await db.execute(
        "INSERT INTO members (organisation_id, identifier, first_name, last_name, email, phone,"
        " role, extra_roles, permissions, status, valid_until, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            organisation_id,
            new.identifier,
            new.first_name,
            new.last_name,
            new.email,
            new.phone,
            str(new.role),
            json.dumps(extra),
            json.dumps({str(k): v for k, v in new.permissions.items()}, sort_keys=True),
            status,
            to_text(new.valid_until) if new.valid_until else None,
            to_text(now),
            to_text(now),
        ),
    )
    member_id = cur.lastrowid
    assert member_id is not None
    await add_tokens(db, member_id, new.tokens, now)
    await set_groups(db, organisation_id, member_id, new.groups)
    if policy is not None:
        await write_policy(db, organisation_id, member_id, policy, now)
    return member_id


def extra_roles(role: str, extra: Iterable[str]) -> list[str]:
    """Extra roles without duplicates nor the main role, in the order given."""
    return [str(r) for r in dict.fromkeys(extra) if r != role]


async def set_groups(
    db: aiosqlite.Connection, organisation_id: int, member_id: int, names: Iterable[str]
) -> None:
    """Make the member's groups exactly ``names``; groups are created on demand."""
    wanted: list[int] = []
    for name in dict.fromkeys(names):
        await db.execute(
            "INSERT OR IGNORE INTO groups (organisation_id, name) VALUES (?, ?)",
            (organisation_id, name),
        )
        async with db.execute(
            "SELECT id FROM groups WHERE organisation_id = ? AND name = ?", (organisation_id, name)
        ) as cur:
            row = await cur.fetchone()
        assert row is not None
        wanted.append(int(row[0]))
    marks = ", ".join("?" * len(wanted))
    await db.execute(
        f"DELETE FROM member_groups WHERE member_id = ? AND group_id NOT IN ({marks})",
        (member_id, *wanted),
    )
    for group_id in wanted:
        await db.execute(
            "INSERT OR IGNORE INTO member_groups (member_id, group_id) VALUES (?, ?)",
            (member_id, group_id),
        )


async def add_tokens(
    db: aiosqlite.Connection, member_id: int, tokens: Iterable[TokenInput], now: datetime
) -> None:
    """Conflict (field ``tokens``) when a value is in use anywhere: OCPP tokens are global."""
    seen: set[str] = set()
    for token in tokens:
        key = token_key(token.value)
        async with db.execute("SELECT 1 FROM tokens WHERE value_key = ?", (key,)) as cur:
            taken = await cur.fetchone() is not None
        if taken or key in seen:
            raise Conflict(f"token {token.value} is already in use", field="tokens")
        seen.add(key)
        await db.execute(
            "INSERT INTO tokens (value, value_key, type, member_id, status, expires_at,"
            " created_at) VALUES (?, ?, ?, ?, 'Active', ?, ?)",
            (
                token.value,
                key,
                str(token.type),
                member_id,
                to_text(token.expires_at) if token.expires_at else None,
                to_text(now),
            ),
        )


async def remove_tokens(db: aiosqlite.Connection, member_id: int, values: Iterable[str]) -> None:
    """Invalid (field ``tokens.remove``) for a value that is not one of the member's."""
    for value in values:
        cur = await db.execute(
            "DELETE FROM tokens WHERE value_key = ? AND member_id = ?",
            (token_key(value), member_id),
        )
        if cur.rowcount != 1:
            raise Invalid(f"token {value} is not one of this member's", field="tokens.remove")


async def write_policy(
    db: aiosqlite.Connection,
    organisation_id: int,
    member_id: int,
    body: dict[str, Any] | None,
    now: datetime,
) -> None:
    """Set (``PolicyStore.set_policy`` semantics) or, with None, clear the member's policy."""
    if body is None:
        await db.execute(
            "DELETE FROM policies WHERE scope_kind = 'member' AND scope_id = ?", (member_id,)
        )
        return
    await db.execute(
        "INSERT INTO policies (organisation_id, scope_kind, scope_id, body, updated_at)"
        " VALUES (?, 'member', ?, ?, ?) ON CONFLICT (scope_kind, scope_id)"
        " DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at",
        (organisation_id, member_id, json.dumps(body), to_text(now)),
    )
