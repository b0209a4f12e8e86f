"""Member import and export: the organisation read in a few queries, the plan turned into
statements (``executemany``) cut into chunks that the writer runs one at a time.

The reading runs in the bulk worker (:mod:`gateway.bulk_work`), on a
connection of its own (:func:`reading`); :func:`run_chunk` runs in the
writer's database thread, one chunk per transaction
(:meth:`gateway.store.database.Database.write_bulk`).
"""

from __future__ import annotations

import json
import pickle
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from gateway.members.sync_plan import Existing, OrgState, Plan
from gateway.store.members import token_key
from gateway.timeutil import to_text

BATCH = 5000
_IN_CHUNK = 500
T = TypeVar("T")


def chunks(items: Sequence[T], size: int = BATCH) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _rows(db: sqlite3.Connection, sql: str, params: Sequence[Any] = ()) -> list[Any]:
    return db.execute(sql, params).fetchall()


async def organisation(db: aiosqlite.Connection, name: str) -> tuple[int, str] | None:
    async with db.execute("SELECT id, timezone FROM organisations WHERE name = ?", (name,)) as cur:
        found = await cur.fetchone()
    return (int(found[0]), str(found[1])) if found else None


@contextmanager
def reading(path: Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection to the database at ``path``, in one read transaction (in WAL
    mode it sees the last commit and blocks no writer); closed at the end."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA query_only = ON")
        db.execute("PRAGMA busy_timeout = 10000")
        db.execute("BEGIN")
        yield db
    finally:
        db.close()


def organisation_timezone(db: sqlite3.Connection, organisation_id: int) -> str | None:
    found = _rows(db, "SELECT timezone FROM organisations WHERE id = ?", (organisation_id,))
    return str(found[0][0]) if found else None


def load_state(
    db: sqlite3.Connection, organisation_id: int, file_tokens: Iterable[str] = ()
) -> OrgState:
    """The organisation's members with their groups and tokens, its groups, and which of
    ``file_tokens`` (values) are held in other organisations. Run it inside one read
    transaction (:func:`reading`): the queries then see one state."""
    org = _rows(db, "SELECT timezone FROM organisations WHERE id = ?", (organisation_id,))
    timezone = str(org[0][0]) if org else "UTC"
    members: dict[int, Existing] = {}
    reserved_ids: set[str] = set()
    reserved_emails: set[str] = set()
    rows = _rows(
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
    for member_id, name in _rows(
        db,
        "SELECT mg.member_id, g.name FROM member_groups mg JOIN groups g ON g.id = mg.group_id"
        " WHERE g.organisation_id = ?",
        (organisation_id,),
    ):
        groups_of.setdefault(member_id, []).append(name)
    tokens_of: dict[int, list[str]] = {}
    owners: dict[str, int] = {}
    for member_id, value, key in _rows(
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
        for row in _rows(
            db, "SELECT name FROM groups WHERE organisation_id = ?", (organisation_id,)
        )
    }
    outside = sorted({token_key(v) for v in file_tokens} - owners.keys())
    foreign: set[str] = set()
    for part in chunks(outside, _IN_CHUNK):
        foreign.update(
            row[0]
            for row in _rows(
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
Statement = tuple[str, list[tuple[Any, ...]]]
"""SQL and its rows of parameters (``executemany``)."""


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


@dataclass(frozen=True, slots=True)
class Program:
    """The writes of a plan, in order, and the ids of the members they change."""

    statements: list[Statement]
    changed: list[int]

    def rows(self) -> int:
        return sum(len(rows) for _, rows in self.statements)


def write_program(
    db: sqlite3.Connection,
    state: OrgState,
    plan: Plan,
    now: datetime,
    audit: tuple[int | None, str],
    summary: dict[str, Any],
) -> Program:
    """The statements that write ``plan`` (made from ``state``, read through ``db`` in the
    same read transaction), then the import's summary audit entry.

    New members and groups get their ids here, as SQLite would give them (one past
    the largest), so that the writes can run as chunks of their own and the report
    can name the new ids before they are written. ``audit``: (actor member id,
    actor label) of the audit entries, one per member.
    """
    org = state.organisation_id
    writes = _Writes(to_text(now), {})
    statements = _ensure_groups(db, org, plan, writes)
    statements += _give_up_tokens(plan)  # first: another row of the same file may take them
    statements += _update_members(plan, writes)
    statements += _add_members(db, org, plan, writes)
    statements += _deactivate_members(plan, writes)
    statements += [
        ("DELETE FROM member_groups WHERE member_id = ? AND group_id = ?", writes.groups_out),
        ("INSERT OR IGNORE INTO member_groups (member_id, group_id) VALUES (?, ?)",
         writes.groups_in),
        ("INSERT INTO tokens (value, value_key, member_id, created_at) VALUES (?, ?, ?, ?)",
         writes.tokens_in),
    ]  # fmt: skip
    actor_id, label = audit
    entries = [
        (org, actor_id, label, action, "member", str(target), _json(before), _json(after),
         writes.stamp)
        for action, target, before, after in writes.audit
    ]  # fmt: skip
    entries.append((org, actor_id, label, "member.import", "organisation", str(org), None,
                    _json(summary), writes.stamp))  # fmt: skip
    statements.append(
        (
            "INSERT INTO audit_log (organisation_id, actor_member_id, actor, action, target_kind,"
            " target_id, before, after, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            entries,
        )
    )
    return Program([s for s in statements if s[1]], [entry[1] for entry in writes.audit])


def chunks_of(program: Program, size: int) -> list[bytes]:
    """``program`` cut into chunks of at most ``size`` rows, each pickled (for
    :func:`run_chunk`); the statements keep their order."""
    out: list[bytes] = []
    chunk: list[Statement] = []
    room = size
    for sql, rows in program.statements:
        start = 0
        while start < len(rows):
            part = rows[start : start + room]
            chunk.append((sql, part))
            start += len(part)
            room -= len(part)
            if room == 0:
                out.append(pickle.dumps(chunk, pickle.HIGHEST_PROTOCOL))
                chunk, room = [], size
    if chunk:
        out.append(pickle.dumps(chunk, pickle.HIGHEST_PROTOCOL))
    return out


def run_chunk(db: sqlite3.Connection, chunk: bytes) -> int:
    """Write one chunk of :func:`chunks_of` (in the writer's transaction); its rows."""
    done = 0
    for sql, rows in pickle.loads(chunk):  # made by this gateway's own worker
        db.executemany(sql, rows)
        done += len(rows)
    return done


def _next_id(db: sqlite3.Connection, table: str) -> int:
    found = _rows(db, f"SELECT coalesce(max(id), 0) + 1 FROM {table}")
    return int(found[0][0])


def _give_up_tokens(plan: Plan) -> list[Statement]:
    removed = [
        (token_key(value), update.member.id)
        for update in plan.updates
        if "tokens" in update.changes
        for value in _gone(*update.changes["tokens"])
    ]
    return [("DELETE FROM tokens WHERE value_key = ? AND member_id = ?", removed)]


def _update_members(plan: Plan, writes: _Writes) -> list[Statement]:
    assignments = ", ".join(f"{name} = ?" for name in _MEMBER_COLUMNS)
    params = []
    for update in plan.updates:
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
    return [(f"UPDATE members SET {assignments}, updated_at = ? WHERE id = ?", params)]


def _add_members(db: sqlite3.Connection, org: int, plan: Plan, writes: _Writes) -> list[Statement]:
    """The new members, each with the id SQLite would give it."""
    if not plan.additions:
        return []
    columns = ", ".join(_MEMBER_COLUMNS)
    marks = ", ".join("?" * (len(_MEMBER_COLUMNS) + 4))
    params = []
    for member_id, addition in enumerate(plan.additions, start=_next_id(db, "members")):
        addition.id = member_id
        values = (addition.values[name] for name in _MEMBER_COLUMNS)
        params.append((member_id, org, *values, writes.stamp, writes.stamp))
        writes.groups(member_id, (), addition.values["groups"])
        writes.tokens(member_id, (), addition.values["tokens"])
        writes.audit.append(
            ("member.import.add", member_id, None, {"id": member_id, **addition.values})
        )
    sql = f"INSERT INTO members (id, organisation_id, {columns}, created_at, updated_at)"
    return [(f"{sql} VALUES ({marks})", params)]


def _deactivate_members(plan: Plan, writes: _Writes) -> list[Statement]:
    params = []
    for member in plan.deactivations:
        params.append((writes.stamp, member.id))
        who = {"id": member.id, "identifier": member.identifier, "email": member.email}
        before, after = {**who, "status": member.status}, {**who, "status": "Inactive"}
        writes.audit.append(("member.import.deactivate", member.id, before, after))
    return [("UPDATE members SET status = 'Inactive', updated_at = ? WHERE id = ?", params)]


def _gone(before: Sequence[str], after: Sequence[str]) -> list[str]:
    """Values of ``before`` not in ``after`` (token values compared as tokens are)."""
    kept = {token_key(v) for v in after}
    return [v for v in before if token_key(v) not in kept]


_ENCODER = json.JSONEncoder(default=str, sort_keys=True)  # as gateway.store.admin.audit writes


def _json(value: Any) -> str | None:
    return None if value is None else _ENCODER.encode(value)


def _ensure_groups(
    db: sqlite3.Connection, org: int, plan: Plan, writes: _Writes
) -> list[Statement]:
    """Fill ``writes.group_ids`` (ids by lowercase name), giving ids to the groups the plan
    names that do not exist; the statement that makes them."""
    wanted: dict[str, str] = {}
    for addition in plan.additions:
        for name in addition.values["groups"]:
            wanted.setdefault(name.lower(), name)
    regrouped = False
    for update in plan.updates:
        if "groups" in update.changes:
            regrouped = True
            for name in update.changes["groups"][1]:
                wanted.setdefault(name.lower(), name)
    if not wanted and not regrouped:
        return []
    have = writes.group_ids
    existing = _rows(db, "SELECT id, name FROM groups WHERE organisation_id = ?", (org,))
    for group_id, name in existing:
        have[str(name).lower()] = int(group_id)
    missing = [name for key, name in wanted.items() if key not in have]
    made = []
    for group_id, name in enumerate(missing, start=_next_id(db, "groups")):
        have[name.lower()] = group_id
        made.append((group_id, org, name))
    return [("INSERT INTO groups (id, organisation_id, name) VALUES (?, ?, ?)", made)]
