"""Organisation settings, groups and usage policies: the admin API's operations.

Permissions: groups, policies and the organisation's time zone, enforcement
mode, group token and idToken type matching need ``members``; its currency and tariff need
``prices``. Any member may read the organisation's settings.

Policies attach to the organisation, a group (by name) or a member (by id),
one per scope, and combine per rule, the most specific scope winning (see
``gateway.policy_engine.combine``). A member's own policy is an edit of that
member: an operator sets it only for members ranked below them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import aiosqlite

from gateway.members import network_values as check
from gateway.members.errors import Conflict, Forbidden, Invalid, NotFound
from gateway.members.network import UNSET
from gateway.members.policy_spec import PolicySpec
from gateway.members.roles import Permission
from gateway.members.service import Actor, AdminContext
from gateway.store.network import NetworkStore, bump_cache_generation, organisation_record
from gateway.timeutil import to_text

SCOPES = ("organisation", "group", "member")


@dataclass(frozen=True, slots=True)
class OrganisationChange:
    """An edit of the organisation's settings; a field left :data:`UNSET` is kept.

    Amounts are in the currency's major unit (0.30 EUR); ``group_token`` None
    stops sending a parentIdTag / groupIdToken.
    """

    timezone: str = UNSET
    currency: str = UNSET
    price_per_kwh: Decimal | str = UNSET
    session_fee: Decimal | str = UNSET
    enforcement: str = UNSET
    group_token: str | None = UNSET
    token_type_match: str = UNSET


def public_organisation(row: dict[str, Any]) -> dict[str, Any]:
    currency = row["currency"]
    return {
        "id": row["id"],
        "name": row["name"],
        "timezone": row["timezone"],
        "currency": currency,
        "price_per_kwh": check.major(row["price_per_kwh"], currency),
        "session_fee": check.major(row["session_fee"], currency),
        "enforcement": row["enforcement"],
        "group_token": row["group_token"],
        "token_type_match": row["token_type_match"],
        "created_at": row["created_at"],
    }


class PolicyService:
    def __init__(self, ctx: AdminContext) -> None:
        self.ctx = ctx
        self.store = NetworkStore(ctx.db)

    # -- organisation -----------------------------------------------------------------------

    async def get_organisation(self, actor: Actor) -> dict[str, Any]:
        found = await self.store.organisation(actor.organisation_id)
        if found is None:
            raise NotFound("no such organisation")
        return public_organisation(found)

    async def update_organisation(self, actor: Actor, change: OrganisationChange) -> dict[str, Any]:
        current = await self.store.organisation(actor.organisation_id)
        if current is None:
            raise NotFound("no such organisation")
        fields: dict[str, Any] = {}
        if change.timezone is not UNSET or change.enforcement is not UNSET:
            actor.require(Permission.MEMBERS)
        if change.token_type_match is not UNSET:
            actor.require(Permission.MEMBERS)
            fields["token_type_match"] = check.token_type_match(change.token_type_match)
        if change.group_token is not UNSET:
            actor.require(Permission.MEMBERS)
            fields["group_token"] = (
                None if change.group_token is None else check.group_token(change.group_token)
            )
        if change.timezone is not UNSET:
            fields["timezone"] = check.timezone(change.timezone)
        if change.enforcement is not UNSET:
            fields["enforcement"] = check.enforcement(change.enforcement)
        prices = (change.currency, change.price_per_kwh, change.session_fee)
        if any(value is not UNSET for value in prices):
            actor.require(Permission.PRICES)
        currency = current["currency"]
        if change.currency is not UNSET:
            currency = fields["currency"] = check.currency(change.currency)
        if change.price_per_kwh is not UNSET:
            fields["price_per_kwh"] = check.price_per_kwh_minor(change.price_per_kwh, currency)
        if change.session_fee is not UNSET:
            fields["session_fee"] = check.session_fee_minor(change.session_fee, currency)

        async def op(db: aiosqlite.Connection, now: datetime) -> dict[str, Any]:
            before = await organisation_record(db, actor.organisation_id)
            if fields:
                assignments = ", ".join(f"{k} = :{k}" for k in fields)
                await db.execute(
                    f"UPDATE organisations SET {assignments} WHERE id = :id",
                    {**fields, "id": actor.organisation_id},
                )
            after = await organisation_record(db, actor.organisation_id)
            if after != before:
                await self.ctx.record(
                    db,
                    actor,
                    "organisation.update",
                    "organisation",
                    actor.organisation_id,
                    before,
                    after,
                    now,
                )
            return after

        return public_organisation(await self.ctx.change(op, refresh=None if fields else False))

    # -- groups -----------------------------------------------------------------------------

    async def list_groups(self, actor: Actor) -> list[dict[str, Any]]:
        actor.require(Permission.MEMBERS)
        return await self.store.groups(actor.organisation_id)

    async def _group(self, actor: Actor, name: str) -> dict[str, Any]:
        found = await self.store.group(actor.organisation_id, name)
        if found is None:
            raise NotFound(f"no group {name}", field="group")
        return found

    async def create_group(self, actor: Actor, name: str) -> dict[str, Any]:
        actor.require(Permission.MEMBERS)
        name = check.name(name)

        async def op(db: aiosqlite.Connection, now: datetime) -> int:
            cur = await db.execute(
                "INSERT OR IGNORE INTO groups (organisation_id, name) VALUES (?, ?)",
                (actor.organisation_id, name),
            )
            if cur.rowcount != 1 or cur.lastrowid is None:
                raise Conflict(f"group {name!r} already exists", field="name")
            after = {"id": cur.lastrowid, "name": name}
            await self.ctx.record(
                db, actor, "group.create", "group", cur.lastrowid, None, after, now
            )
            return cur.lastrowid

        await self.ctx.change(op, refresh=False)  # an empty group changes no decision
        return await self._listed(actor, name)

    async def _listed(self, actor: Actor, name: str) -> dict[str, Any]:
        for group in await self.store.groups(actor.organisation_id):
            if group["name"] == name:
                return group
        raise NotFound(f"no group {name}", field="group")

    async def rename_group(self, actor: Actor, name: str, new_name: str) -> dict[str, Any]:
        actor.require(Permission.MEMBERS)
        group = await self._group(actor, name)
        new_name = check.name(new_name)

        async def op(db: aiosqlite.Connection, now: datetime) -> None:
            try:
                await db.execute("UPDATE groups SET name = ? WHERE id = ?", (new_name, group["id"]))
            except aiosqlite.IntegrityError:
                raise Conflict(f"group {new_name!r} already exists", field="name") from None
            after = {"id": group["id"], "name": new_name}
            await self.ctx.record(
                db, actor, "group.rename", "group", group["id"], group, after, now
            )

        if new_name != name:
            await self.ctx.change(op, refresh=False)  # decisions know groups by id
        return await self._listed(actor, new_name)

    async def delete_group(self, actor: Actor, name: str) -> None:
        """Delete a group, its policy and its memberships (the members stay)."""
        actor.require(Permission.MEMBERS)
        group = await self._group(actor, name)
        policy = await self.store.policy("group", group["id"])

        async def op(db: aiosqlite.Connection, now: datetime) -> None:
            async with db.execute(
                "SELECT member_id FROM member_groups WHERE group_id = ? ORDER BY member_id",
                (group["id"],),
            ) as cur:
                members = [row[0] for row in await cur.fetchall()]
            await db.execute("DELETE FROM member_groups WHERE group_id = ?", (group["id"],))
            await db.execute(
                "DELETE FROM policies WHERE scope_kind = 'group' AND scope_id = ?", (group["id"],)
            )
            await db.execute("DELETE FROM groups WHERE id = ?", (group["id"],))
            await bump_cache_generation(db)
            before = {**group, "members": members, "policy": policy["body"] if policy else None}
            await self.ctx.record(
                db, actor, "group.delete", "group", group["id"], before, None, now
            )

        await self.ctx.change(op)

    # -- policies ---------------------------------------------------------------------------

    async def _scope(
        self, actor: Actor, scope: str, key: str | int | None, *, changing: bool
    ) -> tuple[int, str]:
        """(scope id, label) of a policy's target in the actor's organisation."""
        actor.require(Permission.MEMBERS)
        if scope == "organisation":
            return actor.organisation_id, "organisation"
        if scope == "group":
            group = await self._group(actor, str(key))
            return int(group["id"]), f"group {group['name']}"
        if scope == "member":
            if not isinstance(key, int):
                raise Invalid("a member is named by id", field="member_id")
            member = await self.ctx.member_in_org(actor, key)
            if changing and not actor.may_act_on(member):
                raise Forbidden("you may only set the policy of members whose role is below yours")
            return key, f"member {key}"
        raise Invalid(f"scope is one of {', '.join(SCOPES)}", field="scope")

    async def list_policies(self, actor: Actor) -> list[dict[str, Any]]:
        actor.require(Permission.MEMBERS)
        return [
            {
                "scope": row["scope_kind"],
                "target": _target(row["scope_kind"], row["scope_id"], row["label"]),
                "policy": row["body"],
                "updated_at": row["updated_at"],
            }
            for row in await self.store.policies(actor.organisation_id)
        ]

    async def get_policy(self, actor: Actor, scope: str, key: str | int | None) -> dict[str, Any]:
        scope_id, label = await self._scope(actor, scope, key, changing=False)
        found = await self.store.policy(scope, scope_id)
        return {
            "scope": scope,
            "target": label,
            "policy": found["body"] if found else None,
            "updated_at": found["updated_at"] if found else None,
        }

    async def set_policy(
        self, actor: Actor, scope: str, key: str | int | None, spec: PolicySpec
    ) -> dict[str, Any]:
        """Attach ``spec`` to the scope, replacing its policy; the next decision applies it."""
        scope_id, _ = await self._scope(actor, scope, key, changing=True)
        await self._check_references(actor, spec)
        body = spec.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
        before = await self.store.policy(scope, scope_id)

        async def op(db: aiosqlite.Connection, now: datetime) -> None:
            await db.execute(
                "INSERT INTO policies (organisation_id, scope_kind, scope_id, body, updated_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (scope_kind, scope_id)"
                " DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at",
                (actor.organisation_id, scope, scope_id, json.dumps(body), to_text(now)),
            )
            await self.ctx.record(
                db,
                actor,
                "policy.set",
                "policy",
                f"{scope}:{scope_id}",
                before["body"] if before else None,
                body,
                now,
            )

        await self.ctx.change(op, refresh=[scope_id] if scope == "member" else None)
        return await self.get_policy(actor, scope, key)

    async def _check_references(self, actor: Actor, spec: PolicySpec) -> None:
        """Sites and stations a policy names exist in the organisation (typos are refused)."""
        unknown = spec.site_names() - await self.store.site_names(actor.organisation_id)
        if unknown:
            raise Invalid(
                f"unknown sites: {', '.join(sorted(unknown))} (a site exists once a station"
                " is registered there)",
                field="sites",
            )
        if spec.stations:
            known = {s["charge_point_id"] for s in await self.store.stations(actor.organisation_id)}
            missing = set(spec.stations) - known
            if missing:
                raise Invalid(f"unknown stations: {', '.join(sorted(missing))}", field="stations")

    async def delete_policy(self, actor: Actor, scope: str, key: str | int | None) -> None:
        scope_id, label = await self._scope(actor, scope, key, changing=True)
        before = await self.store.policy(scope, scope_id)
        if before is None:
            raise NotFound(f"no policy set for {label}")

        async def op(db: aiosqlite.Connection, now: datetime) -> None:
            await db.execute(
                "DELETE FROM policies WHERE scope_kind = ? AND scope_id = ?", (scope, scope_id)
            )
            await self.ctx.record(
                db,
                actor,
                "policy.clear",
                "policy",
                f"{scope}:{scope_id}",
                before["body"],
                None,
                now,
            )

        await self.ctx.change(op, refresh=[scope_id] if scope == "member" else None)


def _target(scope: str, scope_id: int, label: str | None) -> str:
    if scope == "organisation":
        return "organisation"
    if scope == "group":
        return f"group {label}"
    return f"member {scope_id}" + (f" ({label})" if label else "")
