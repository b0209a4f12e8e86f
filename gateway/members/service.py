"""Member management: the operations behind the admin API and the CLI.

Every operation takes the :class:`Actor` acting (a member authenticated by an
API token, or the command line), checks the actor's role and permissions
inside the actor's organisation, makes its change and the audit entry in one
database transaction, then (in the gateway process) refreshes the policy
cache before returning, so the next decision on any connection sees it.

Another organisation's records are reported as not found, never as forbidden.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import aiosqlite
import structlog

from gateway.bulk_work import BulkWorker, ThreadWorker
from gateway.config import AdminSettings
from gateway.members import network_values
from gateway.members.errors import Conflict, Forbidden, Invalid, NotFound, Unauthenticated
from gateway.members.inputs import email_address
from gateway.members.roles import RANK, Permission, Role, may_act_on, may_grant, permissions
from gateway.store.admin import AdminStore, MemberFilter, audit, hash_secret, member_record
from gateway.store.database import Database
from gateway.store.members import MemberStore
from gateway.store.policies import PolicyStore
from gateway.store.stations import StationStore
from gateway.timeutil import Clock, to_text

T = TypeVar("T")
log = structlog.get_logger("gateway.members")
Refresh = Callable[[Collection[int] | None], Awaitable[None]]
TOKEN_PREFIX = "ogw_"
MAX_PAGE = 500


async def _no_refresh(member_ids: Collection[int] | None) -> None:
    """The CLI runs in its own process: a running gateway picks changes up within a second."""


def _not_known(charge_point_id: str) -> bool | None:
    """Outside the gateway process (the CLI) nobody knows which chargers are connected."""
    return None


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is acting, in which organisation, with which roles and permissions."""

    organisation_id: int
    member_id: int | None  # None: the command line, which may do anything in the organisation
    roles: frozenset[Role]
    permissions: frozenset[Permission]
    token_id: int | None = None

    @classmethod
    def command_line(cls, organisation_id: int) -> Actor:
        return cls(organisation_id, None, frozenset({Role.OWNER}), frozenset(Permission))

    @property
    def label(self) -> str:
        return "cli" if self.member_id is None else f"member:{self.member_id}"

    def require(self, permission: Permission) -> None:
        if permission not in self.permissions:
            raise Forbidden(f"your role does not allow this (needs the {permission} permission)")

    def may_grant(self, role: Role) -> bool:
        return may_grant(self.roles, role)

    def may_act_on(self, member: dict[str, Any]) -> bool:
        if member["id"] == self.member_id:
            return False
        return self.member_id is None or may_act_on(self.roles, roles_of(member))


def roles_of(member: dict[str, Any]) -> frozenset[Role]:
    extra = member["extra_roles"]
    if isinstance(extra, str):
        extra = json.loads(extra)
    return frozenset(_role(r) for r in [member["role"], *extra])


def _role(text: str) -> Role:
    try:
        return Role(text)
    except ValueError:
        return Role.USER


def overrides_of(member: dict[str, Any]) -> dict[Permission, bool]:
    raw = member["permissions"]
    if isinstance(raw, str):
        raw = json.loads(raw)
    return {Permission(k): bool(v) for k, v in raw.items() if k in Permission.__members__.values()}


def actor_for(member: dict[str, Any], token_id: int | None = None) -> Actor:
    roles = roles_of(member)
    return Actor(
        member["organisation_id"],
        member["id"],
        roles,
        permissions(roles, overrides_of(member)),
        token_id,
    )


def public_member(member: dict[str, Any]) -> dict[str, Any]:
    """The member as the API and the CLI show it."""
    roles = roles_of(member)
    return {
        "id": member["id"],
        "identifier": member["identifier"],
        "first_name": member["first_name"],
        "last_name": member["last_name"],
        "email": member["email"],
        "phone": member["phone"],
        "role": member["role"],
        "roles": sorted(roles, key=RANK.__getitem__, reverse=True),
        "permissions": sorted(permissions(roles, overrides_of(member))),
        "permission_overrides": {str(k): v for k, v in overrides_of(member).items()},
        "status": member["status"],
        "groups": member.get("groups", []),
        "tokens": member.get("tokens", []),
        "policy": member.get("policy"),
        "valid_until": member["valid_until"],
        "last_activity_at": member["last_activity_at"],
        "created_at": member["created_at"],
        "updated_at": member["updated_at"],
    }


def new_secret() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


@dataclass
class AdminContext:
    """What every member-management operation works with."""

    db: Database
    clock: Clock
    settings: AdminSettings = field(default_factory=AdminSettings)
    refresh: Refresh = _no_refresh
    connected: Callable[[str], bool | None] = _not_known
    worker: BulkWorker = field(default_factory=ThreadWorker)
    """Where bulk work (imports, exports) runs: the gateway's is a process."""
    store: AdminStore = field(init=False)
    members: MemberStore = field(init=False)
    policies: PolicyStore = field(init=False)
    stations: StationStore = field(init=False)

    def __post_init__(self) -> None:
        self._inflight: set[asyncio.Future[Any]] = set()
        self.bulk_lock = asyncio.Lock()
        """Held by an import from reading the organisation to its last chunk; changes wait."""
        self.store = AdminStore(self.db)
        self.members = MemberStore(self.db)
        self.policies = PolicyStore(self.db)
        self.stations = StationStore(self.db)

    async def change(
        self,
        op: Callable[[aiosqlite.Connection, datetime], Awaitable[T]],
        *,
        refresh: Collection[int] | bool | None = None,
    ) -> T:
        """Run ``op(connection, now)`` in one durable transaction, then refresh the cache.

        ``refresh``: the member ids whose authorization changed, None for
        "anything may have", False for "nothing the cache reads".

        Write and refresh run as one task that a cancelled caller (a client
        hanging up) does not stop: a committed change always reaches the cache.
        The task is held in ``_inflight`` until it ends.
        """
        task = asyncio.ensure_future(self._commit_and_refresh(op, refresh))
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)
        return await asyncio.shield(task)

    async def _commit_and_refresh(
        self,
        op: Callable[[aiosqlite.Connection, datetime], Awaitable[T]],
        refresh: Collection[int] | bool | None,
    ) -> T:
        async with self.bulk_lock:
            now = self.clock()
            result = await self.db.write(lambda db: op(db, now))
        if refresh is not False:
            try:
                await self.refresh(None if refresh is None or refresh is True else refresh)
            except Exception as exc:  # committed; a failed rebuild is retried by the poller
                log.error("cache refresh after a change failed", error=repr(exc))
        return result

    async def record(
        self,
        db: aiosqlite.Connection,
        actor: Actor,
        action: str,
        target_kind: str,
        target_id: object,
        before: Any,
        after: Any,
        now: datetime,
    ) -> None:
        await audit(
            db,
            organisation_id=actor.organisation_id,
            actor_member_id=actor.member_id,
            actor=actor.label,
            action=action,
            target_kind=target_kind,
            target_id=target_id,
            before=before,
            after=after,
            now=now,
        )

    async def member_in_org(self, actor: Actor, member_id: int) -> dict[str, Any]:
        member = await self.store.member(actor.organisation_id, member_id)
        if member is None:
            raise NotFound(f"no member {member_id}")
        return member


class MemberService:
    """Authentication, organisations, member listing, activation, API tokens."""

    def __init__(self, ctx: AdminContext) -> None:
        self.ctx = ctx

    # -- authentication ---------------------------------------------------------------------

    async def authenticate(self, bearer: str | None) -> Actor:
        if not bearer:
            raise Unauthenticated("an API token is required: Authorization: Bearer <token>")
        row = await self.ctx.store.token_owner(hash_secret(bearer))
        if row is None:
            raise Unauthenticated("this API token is not valid (unknown or revoked)")
        member = dict(row)
        if member["status"] != "Active":
            raise Unauthenticated(f"this API token's member is {member['status']}")
        return actor_for(member, member["token_id"])

    # -- organisations ----------------------------------------------------------------------

    async def create_organisation(
        self,
        name: str,
        owner_email: str,
        *,
        first_name: str = "",
        last_name: str = "",
        timezone: str = "UTC",
        currency: str = "EUR",
    ) -> tuple[int, int, str]:
        """A new organisation, its Owner (Active) and the Owner's first API token."""
        name = name.strip()
        if not name:
            raise Invalid("an organisation needs a name", field="name")
        timezone = network_values.timezone(timezone)
        currency = network_values.currency(currency)
        email = _email(owner_email)
        secret = new_secret()

        async def op(db: aiosqlite.Connection, now: datetime) -> tuple[int, int]:
            async with db.execute("SELECT 1 FROM organisations WHERE name = ?", (name,)) as cur:
                if await cur.fetchone() is not None:
                    raise Conflict(f"organisation {name!r} already exists", field="name")
            cur = await db.execute(
                "INSERT INTO organisations (name, timezone, currency, created_at)"
                " VALUES (?, ?, ?, ?)",
                (name, timezone, currency, to_text(now)),
            )
            org_id = cur.lastrowid
            assert org_id is not None
            cur = await db.execute(
                "INSERT INTO members (organisation_id, first_name, last_name, email, role,"
                " status, created_at, updated_at) VALUES (?, ?, ?, ?, 'Owner', 'Active', ?, ?)",
                (org_id, first_name, last_name, email, to_text(now), to_text(now)),
            )
            member_id = cur.lastrowid
            assert member_id is not None
            await insert_api_token(db, member_id, "first owner token", secret, now)
            actor = Actor.command_line(org_id)
            after = {"organisation": name, "owner": email}
            await self.ctx.record(
                db, actor, "organisation.create", "organisation", org_id, None, after, now
            )
            return org_id, member_id

        org_id, member_id = await self.ctx.change(op)
        return org_id, member_id, secret

    # -- reading members --------------------------------------------------------------------

    async def list_members(
        self, actor: Actor, where: MemberFilter, page: int = 1, per_page: int = 50
    ) -> dict[str, Any]:
        actor.require(Permission.MEMBERS)
        if page < 1:
            raise Invalid("page starts at 1", field="page")
        if not 1 <= per_page <= MAX_PAGE:
            raise Invalid(f"per_page is between 1 and {MAX_PAGE}", field="per_page")
        if where.role is not None and where.role not in Role.__members__.values():
            raise Invalid(f"unknown role {where.role}", field="role")
        total, members = await self.ctx.store.members(
            actor.organisation_id, where, (page - 1) * per_page, per_page
        )
        return {
            "items": [public_member(m) for m in members],
            "total": total,
            "page": page,
            "per_page": per_page,
        }

    async def get_member(self, actor: Actor, member_id: int) -> dict[str, Any]:
        if member_id != actor.member_id:
            actor.require(Permission.MEMBERS)
        return public_member(await self.ctx.member_in_org(actor, member_id))

    # -- activation -------------------------------------------------------------------------

    async def set_status(self, actor: Actor, member_id: int, status: str) -> dict[str, Any]:
        """Deactivate (access lost at once, data kept) or reactivate a member."""
        if status not in ("Active", "Inactive"):
            raise Invalid("status is Active or Inactive", field="status")
        actor.require(Permission.MEMBERS)
        member = await self.ctx.member_in_org(actor, member_id)
        if member_id == actor.member_id:
            raise Forbidden("you cannot change your own status")
        if not actor.may_act_on(member):
            raise Forbidden("you may only act on members whose role is below yours")
        if member["status"] == "Pending" and status == "Active":
            raise Conflict("a Pending member becomes Active by accepting the invitation")
        action = "member.deactivate" if status == "Inactive" else "member.reactivate"
        await self.ctx.change(
            lambda db, now: self._set_status(db, actor, member_id, status, action, now),
            refresh=[member_id],
        )
        return await self.get_member(actor, member_id)

    async def _set_status(
        self,
        db: aiosqlite.Connection,
        actor: Actor,
        member_id: int,
        status: str,
        action: str,
        now: datetime,
    ) -> None:
        before = await member_record(db, member_id)
        if before is None or before["status"] == status:
            return
        await db.execute(
            "UPDATE members SET status = ?, updated_at = ? WHERE id = ?",
            (status, to_text(now), member_id),
        )
        after = await member_record(db, member_id)
        await self.ctx.record(db, actor, action, "member", member_id, before, after, now)

    # -- audit log --------------------------------------------------------------------------

    async def audit_entries(
        self,
        actor: Actor,
        *,
        member_id: int | None = None,
        actor_id: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        page: int = 1,
        per_page: int = 50,
    ) -> dict[str, Any]:
        """The organisation's audit log, newest first: by target member, actor, period."""
        actor.require(Permission.MEMBERS)
        if page < 1:
            raise Invalid("page starts at 1", field="page")
        if not 1 <= per_page <= MAX_PAGE:
            raise Invalid(f"per_page is between 1 and {MAX_PAGE}", field="per_page")
        for name, value in (("since", since), ("until", until)):
            if value is not None and value.tzinfo is None:
                raise Invalid(f"{name} needs a time zone offset, e.g. Z or +02:00", field=name)
        if since is not None and until is not None and since >= until:
            raise Invalid("since must be before until", field="since")
        total, entries = await self.ctx.store.audit_entries(
            actor.organisation_id,
            member_id=member_id,
            actor_member_id=actor_id,
            since=since,
            until=until,
            offset=(page - 1) * per_page,
            limit=per_page,
        )
        return {"items": entries, "total": total, "page": page, "per_page": per_page}

    # -- API tokens -------------------------------------------------------------------------

    async def create_api_token(
        self, actor: Actor, name: str, member_id: int | None = None
    ) -> tuple[dict[str, Any], str]:
        """A new API token for yourself (or, as the command line, for any member)."""
        target = actor.member_id if member_id is None else member_id
        if target is None:
            raise Invalid("the command line names the member the token is for", field="member")
        if target != actor.member_id and actor.member_id is not None:
            raise Forbidden("API tokens are created by the member who will use them")
        member = await self.ctx.member_in_org(actor, target)
        if member["status"] != "Active":
            raise Conflict(f"member {target} is {member['status']}")
        secret = new_secret()

        async def op(db: aiosqlite.Connection, now: datetime) -> int:
            token_id = await insert_api_token(db, target, name, secret, now)
            after = {"member_id": target, "name": name, "prefix": secret[:10]}
            await self.ctx.record(
                db, actor, "api_token.create", "api_token", token_id, None, after, now
            )
            return token_id

        token_id = await self.ctx.change(op, refresh=False)
        found = await self.ctx.store.api_token(token_id)
        assert found is not None
        return found, secret

    async def list_api_tokens(self, actor: Actor, member_id: int | None = None) -> list[Any]:
        target = actor.member_id if member_id is None else member_id
        if target is None:
            raise Invalid("name the member", field="member")
        if target != actor.member_id:
            actor.require(Permission.MEMBERS)
        await self.ctx.member_in_org(actor, target)
        return await self.ctx.store.api_tokens([target])

    async def revoke_api_token(self, actor: Actor, token_id: int) -> dict[str, Any]:
        token = await self.ctx.store.api_token(token_id)
        if token is None:
            raise NotFound(f"no API token {token_id}")
        owner = await self.ctx.store.member(actor.organisation_id, token["member_id"])
        if owner is None:
            raise NotFound(f"no API token {token_id}")
        if owner["id"] != actor.member_id:
            actor.require(Permission.MEMBERS)
            if not actor.may_act_on(owner):
                raise Forbidden("you may only revoke tokens of members whose role is below yours")
        if token["revoked_at"] is None:

            async def op(db: aiosqlite.Connection, now: datetime) -> None:
                await db.execute(
                    "UPDATE api_tokens SET revoked_at = ? WHERE id = ?", (to_text(now), token_id)
                )
                after = {**token, "revoked_at": to_text(now)}
                await self.ctx.record(
                    db, actor, "api_token.revoke", "api_token", token_id, token, after, now
                )

            await self.ctx.change(op, refresh=False)
        found = await self.ctx.store.api_token(token_id)
        assert found is not None
        return found


async def insert_api_token(
    db: aiosqlite.Connection, member_id: int, name: str, secret: str, now: datetime
) -> int:
    cur = await db.execute(
        "INSERT INTO api_tokens (member_id, name, token_hash, prefix, created_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (member_id, name, hash_secret(secret), secret[:10], to_text(now)),
    )
    assert cur.lastrowid is not None
    return cur.lastrowid


def _email(text: str) -> str:
    try:
        return email_address(text)
    except ValueError as exc:
        raise Invalid(str(exc), field="email") from None
