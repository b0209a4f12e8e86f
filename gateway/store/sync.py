"""Member import and export: the organisation read in a few queries, the plan written in
batches (``executemany``), inside the caller's write transaction.

Every function takes the connection to use: the reader for a dry run or an
export, the writer's (inside :meth:`AdminContext.change`) for an import, so
that the plan is made from the state it is applied to.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import aiosqlite

from gateway.members.sync_plan import Existing, OrgState, Plan
from gateway.store.members import token_key
from gateway.timeutil import to_text

BATCH = 5000
_IN_CHUNK = 500
T = TypeVar("T")
Progress = Callable[[str, int, int], None]


def chunks(items: Sequence[T], size: int = BATCH) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def _rows(db: aiosqlite.Connection, sql: str, params: Sequence[Any] = ()) -> list[Any]:
    async with db.execute(sql, params) as cur:
        return list(await cur.fetchall())


async def organisation(db: aiosqlite.Connection, name: str) -> tuple[int, str] | None:
    found = await _rows(db, "SELECT id, timezone FROM organisations WHERE name = ?", (name,))
    return (int(found[0][0]), str(found[0][1])) if found else None


async def load_state(
    db: aiosqlite.Connection, organisation_id: int, file_tokens: Iterable[str] = ()
) -> OrgState:
    """The organisation's members with their groups and tokens, its groups, and which of
    ``file_tokens`` (values) are held in other organisations."""
    org = await _rows(db, "SELECT timezone FROM organisations WHERE id = ?", (organisation_id,))
    timezone = str(org[0][0]) if org else "UTC"
    members: dict[int, Existing] = {}
    reserved_ids: set[str] = set()
    reserved_emails: set[str] = set()
    rows = await _rows(
        db,
        "SELECT id, identifier, first_name, last_name, email, phone, role, extra_roles, status,"
        " valid_until, deleted_at FROM members WHERE organisation_id = ?"
        " ORDER BY lower(last_name), lower(first_name), id",
        (organisation_id,),
    )
    for member_id, identifier, first, last, email, phone, role, extra, status, until, gone in rows:
        if gone is not None:  # deleted: its identifier and email stay taken, if it kept them
            if identifier:
                reserved_ids.add(identifier.lower())
            if email:
                reserved_emails.add(email.lower())
            continue
        roles = () if extra == "[]" else tuple(json.loads(extra))
        members[member_id] = Existing(
            member_id, identifier, first, last, email, phone, role, roles, status, until
        )
    groups_of: dict[int, list[str]] = {}
    for member_id, name in await _rows(
        db,
        "SELECT mg.member_id, g.name FROM member_groups mg JOIN groups g ON g.id = mg.group_id"
        " WHERE g.organisation_id = ?",
        (organisation_id,),
    ):
        groups_of.setdefault(member_id, []).append(name)
    tokens_of: dict[int, list[str]] = {}
    owners: dict[str, int] = {}
    for member_id, value, key in await _rows(
        db,
        "SELECT t.member_id, t.value, t.value_key FROM tokens t"
        " JOIN members m ON m.id = t.member_id WHERE m.organisation_id = ?",
        (organisation_id,),
    ):
        owners[key] = member_id
        tokens_of.setdefault(member_id, []).append(value)
    for member_id, names in groups_of.items():
        if member_id in members:
            members[member_id].groups = tuple(sorted(names, key=str.lower))
    for member_id, values in tokens_of.items():
        if member_id in members:
            members[member_id].tokens = tuple(sorted(values, key=token_key))
    group_names = {
        row[0].lower(): row[0]
        for row in await _rows(
            db, "SELECT name FROM groups WHERE organisation_id = ?", (organisation_id,)
        )
    }
    outside = sorted({token_key(v) for v in file_tokens} - owners.keys())
    foreign: set[str] = set()
    for part in chunks(outside, _IN_CHUNK):
        foreign.update(
            row[0]
            for row in await _rows(
                db,
                f"SELECT value_key FROM tokens WHERE value_key IN ({', '.join('?' * len(part))})",
                part,
            )
        )
    return OrgState(
        organisation_id,
        timezone,
        list(members.values()),
        group_names,
        owners,
        frozenset(foreign),
        frozenset(reserved_ids),
        frozenset(reserved_emails),
    )


_MEMBER_COLUMNS = ("identifier", "first_name", "last_name", "email", "phone", "role", "status",
                   "valid_until")  # fmt: skip


@dataclass
class _Writes:
    """What the plan adds to the other tables, gathered while members are written."""

    stamp: str
    group_ids: dict[str, int]
    groups_out: list[tuple[int, int]] = field(default_factory=list)
    groups_in: list[tuple[int, int]] = field(default_factory=list)
    tokens_in: list[tuple[str, str, int, str]] = field(default_factory=list)
    audit: list[tuple[str, int, Any, Any]] = field(default_factory=list)

    def groups(self, member_id: int, before: Sequence[str], after: Sequence[str]) -> None:
        self.groups_out += [(member_id, self.group_ids[g.lower()]) for g in _gone(before, after)]
        self.groups_in += [(member_id, self.group_ids[g.lower()]) for g in _gone(after, before)]

    def tokens(self, member_id: int, before: Sequence[str], after: Sequence[str]) -> None:
        self.tokens_in += [(v, token_key(v), member_id, self.stamp) for v in _gone(after, before)]


async def apply_plan(
    db: aiosqlite.Connection,
    state: OrgState,
    plan: Plan,
    now: datetime,
    audit: tuple[int | None, str],
    progress: Progress | None = None,
) -> list[int]:
    """Write ``plan`` (made from ``state`` in this transaction); the ids of changed members.

    ``audit``: (actor member id, actor label) of the audit entries, one per member.
    """
    org = state.organisation_id
    total = len(plan.additions) + len(plan.updates) + len(plan.deactivations)
    done = 0

    def step(count: int) -> None:
        nonlocal done
        done += count
        if progress is not None:
            progress("writing", done, total)

    writes = _Writes(to_text(now), await _ensure_groups(db, org, plan))
    await _give_up_tokens(db, plan)  # first: another row of the same file may take them
    await _update_members(db, plan, writes, step)
    await _add_members(db, org, plan, writes, step)
    await _deactivate_members(db, plan, writes, step)
    for pairs in chunks(writes.groups_out):
        await db.executemany(
            "DELETE FROM member_groups WHERE member_id = ? AND group_id = ?", pairs
        )
    for pairs in chunks(writes.groups_in):
        await db.executemany(
            "INSERT OR IGNORE INTO member_groups (member_id, group_id) VALUES (?, ?)", pairs
        )
    for new_tokens in chunks(writes.tokens_in):
        await db.executemany(
            "INSERT INTO tokens (value, value_key, member_id, created_at) VALUES (?, ?, ?, ?)",
            new_tokens,
        )
    await _audit(db, org, audit, writes)
    return [entry[1] for entry in writes.audit]


async def _give_up_tokens(db: aiosqlite.Connection, plan: Plan) -> None:
    removed = [
        (token_key(value), update.member.id)
        for update in plan.updates
        if "tokens" in update.changes
        for value in _gone(*update.changes["tokens"])
    ]
    for pairs in chunks(removed):
        await db.executemany("DELETE FROM tokens WHERE value_key = ? AND member_id = ?", pairs)


async def _update_members(
    db: aiosqlite.Connection, plan: Plan, writes: _Writes, step: Callable[[int], None]
) -> None:
    assignments = ", ".join(f"{name} = ?" for name in _MEMBER_COLUMNS)
    for updates in chunks(plan.updates):
        params = []
        for update in updates:
            member, changes = update.member, update.changes
            values = [changes[name][1] if name in changes else member.value(name)
                      for name in _MEMBER_COLUMNS]  # fmt: skip
            params.append((*values, writes.stamp, member.id))
            if "groups" in changes:
                writes.groups(member.id, *changes["groups"])
            if "tokens" in changes:
                writes.tokens(member.id, *changes["tokens"])
            before = {"id": member.id, "identifier": member.identifier}
            after = dict(before)
            for name, (old, new) in changes.items():
                before[name], after[name] = old, new
            writes.audit.append(("member.import.update", member.id, before, after))
        await db.executemany(
            f"UPDATE members SET {assignments}, updated_at = ? WHERE id = ?", params
        )
        step(len(updates))


async def _add_members(
    db: aiosqlite.Connection,
    org: int,
    plan: Plan,
    writes: _Writes,
    step: Callable[[int], None],
) -> None:
    """Insert the new members in batches, then learn their ids by identifier (unique)."""
    if not plan.additions:
        return
    columns = ", ".join(_MEMBER_COLUMNS)
    marks = ", ".join("?" * (len(_MEMBER_COLUMNS) + 3))
    for part in chunks(plan.additions):
        await db.executemany(
            f"INSERT INTO members (organisation_id, {columns}, created_at, updated_at)"
            f" VALUES ({marks})",
            [
                (org, *(a.values[name] for name in _MEMBER_COLUMNS), writes.stamp, writes.stamp)
                for a in part
            ],
        )
        step(len(part))
    ids = {
        str(identifier).lower(): int(member_id)
        for member_id, identifier in await _rows(
            db,
            "SELECT id, identifier FROM members WHERE organisation_id = ? AND created_at = ?"
            " AND identifier IS NOT NULL AND deleted_at IS NULL",
            (org, writes.stamp),
        )
    }
    for addition in plan.additions:
        member_id = addition.id = ids[addition.values["identifier"].lower()]
        writes.groups(member_id, (), addition.values["groups"])
        writes.tokens(member_id, (), addition.values["tokens"])
        writes.audit.append(
            ("member.import.add", member_id, None, {"id": member_id, **addition.values})
        )


async def _deactivate_members(
    db: aiosqlite.Connection, plan: Plan, writes: _Writes, step: Callable[[int], None]
) -> None:
    for members in chunks(plan.deactivations):
        await db.executemany(
            "UPDATE members SET status = 'Inactive', updated_at = ? WHERE id = ?",
            [(writes.stamp, member.id) for member in members],
        )
        step(len(members))
    for member in plan.deactivations:
        who = {"id": member.id, "identifier": member.identifier, "email": member.email}
        before, after = {**who, "status": member.status}, {**who, "status": "Inactive"}
        writes.audit.append(("member.import.deactivate", member.id, before, after))


async def _audit(
    db: aiosqlite.Connection, org: int, actor: tuple[int | None, str], writes: _Writes
) -> None:
    """One entry per member, as :func:`gateway.store.admin.audit` writes them, in batches."""
    actor_id, label = actor
    for batch in chunks(writes.audit):
        await db.executemany(
            "INSERT INTO audit_log (organisation_id, actor_member_id, actor, action, target_kind,"
            " target_id, before, after, at) VALUES (?, ?, ?, ?, 'member', ?, ?, ?, ?)",
            [
                (org, actor_id, label, action, str(target), _json(before), _json(after),
                 writes.stamp)
                for action, target, before, after in batch
            ],
        )  # fmt: skip


def _gone(before: Sequence[str], after: Sequence[str]) -> list[str]:
    """Values of ``before`` not in ``after`` (token values compared as tokens are)."""
    kept = {token_key(v) for v in after}
    return [v for v in before if token_key(v) not in kept]


_ENCODER = json.JSONEncoder(default=str, sort_keys=True)  # as gateway.store.admin.audit writes


def _json(value: Any) -> str | None:
    return None if value is None else _ENCODER.encode(value)


async def _ensure_groups(db: aiosqlite.Connection, org: int, plan: Plan) -> dict[str, int]:
    """Group ids by lowercase name, making the groups the plan names that do not exist."""
    wanted: dict[str, str] = {}
    for addition in plan.additions:
        for name in addition.values["groups"]:
            wanted.setdefault(name.lower(), name)
    for update in plan.updates:
        if "groups" in update.changes:
            for name in update.changes["groups"][1]:
                wanted.setdefault(name.lower(), name)
    if not wanted:
        return {}
    have = {
        str(name).lower(): int(group_id)
        for group_id, name in await _rows(
            db, "SELECT id, name FROM groups WHERE organisation_id = ?", (org,)
        )
    }
    missing = [(org, name) for key, name in wanted.items() if key not in have]
    if missing:
        await db.executemany("INSERT INTO groups (organisation_id, name) VALUES (?, ?)", missing)
        have = {
            str(name).lower(): int(group_id)
            for group_id, name in await _rows(
                db, "SELECT id, name FROM groups WHERE organisation_id = ?", (org,)
            )
        }
    return have
