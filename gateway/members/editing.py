"""Adding and editing members: name, email, phone, identifier, roles, permission overrides,
groups, tokens, policy, validity.

Rules (see :mod:`gateway.members.grants`): editing another member needs the
members permission and a rank strictly above theirs; the roles and permission
overrides you give must be ones you may grant; anyone may edit their own name,
email and phone. The Owner's role changes only by transferring ownership.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import aiosqlite

from gateway.members import changes
from gateway.members.errors import Conflict, Forbidden, Invalid, NotFound
from gateway.members.grants import not_self_editable, refused_overrides, refused_roles
from gateway.members.inputs import MemberUpdate, NewMember
from gateway.members.roles import Permission, Role
from gateway.members.service import Actor, AdminContext, overrides_of, public_member
from gateway.store.admin import member_record
from gateway.timeutil import to_text

_COLUMNS = ("first_name", "last_name", "email", "phone", "identifier", "valid_until")


def check_grants(
    actor: Actor,
    role: Role | None,
    extra_roles: list[Role],
    before: Mapping[Permission, bool],
    after: Mapping[Permission, bool],
) -> None:
    """Forbidden unless the actor may give ``role``, every one of ``extra_roles`` (the roles
    being given; None and [] give none) and every override change from ``before`` to
    ``after``; the error names the field at fault."""
    for field, asked in (("role", [] if role is None else [role]), ("extra_roles", extra_roles)):
        refused = refused_roles(actor.roles, asked)
        if not refused:
            continue
        why = (
            "Owner is never granted: transfer ownership instead"
            if refused[0] is Role.OWNER
            else f"you may only grant roles at or below your own, not {refused[0]}"
        )
        raise Forbidden(why, field=field)
    denied = refused_overrides(actor.permissions, before, after)
    if denied:
        raise Forbidden(
            f"you may only grant or remove permissions you hold, not {denied[0]}",
            field=f"permissions.{denied[0]}",
        )


async def validated_policy(
    ctx: AdminContext, organisation_id: int, body: Mapping[str, Any] | None
) -> dict[str, Any] | None:
    if body is None:
        return None
    sites = await ctx.policies.site_ids(organisation_id)
    organisation = await ctx.store.organisation(organisation_id)
    currency = organisation["currency"] if organisation else "EUR"
    return changes.policy_body(body, sites, currency)


class MemberEditor:
    def __init__(self, ctx: AdminContext) -> None:
        self.ctx = ctx

    async def create(self, actor: Actor, new: NewMember, status: str = "Active") -> dict[str, Any]:
        """A member added directly, without an invitation (the command line's ``members add``)."""
        if status not in ("Active", "Pending", "Inactive"):
            raise Invalid("status is Active, Pending or Inactive", field="status")
        actor.require(Permission.MEMBERS)
        check_grants(actor, new.role, new.extra_roles, {}, new.permissions)
        policy = await validated_policy(self.ctx, actor.organisation_id, new.policy)

        async def op(db: aiosqlite.Connection, now: datetime) -> int:
            member_id = await changes.insert_member(
                db, actor.organisation_id, new, policy, status, now
            )
            after = await member_record(db, member_id)
            await self.ctx.record(db, actor, "member.create", "member", member_id, None, after, now)
            return member_id

        member_id = await self.ctx.change(op, refresh=None)
        return public_member(await self.ctx.member_in_org(actor, member_id))

    async def edit(self, actor: Actor, member_id: int, update: MemberUpdate) -> dict[str, Any]:
        given = update.given
        if not given:
            raise Invalid("nothing to change: give at least one field")
        own = member_id == actor.member_id
        if own:
            refused = not_self_editable(given)
            if refused:
                raise Forbidden(
                    f"on your own record you may change name, email and phone, not {refused[0]}",
                    field=refused[0],
                )
        else:
            actor.require(Permission.MEMBERS)
        member = await self.ctx.member_in_org(actor, member_id)
        if not own and not actor.may_act_on(member):
            raise Forbidden("you may only edit members whose role is below yours")
        if "role" in given and member["role"] == Role.OWNER and update.role != Role.OWNER:
            raise Conflict("the Owner's role changes only by transferring ownership", field="role")
        new_role = (
            update.role if update.role is not None and update.role != member["role"] else None
        )
        new_extra = [r for r in update.extra_roles or () if r not in member["extra_roles"]]
        before_overrides = overrides_of(member)
        after_overrides = before_overrides if update.permissions is None else update.permissions
        check_grants(actor, new_role, new_extra, before_overrides, after_overrides)
        policy = None
        if "policy" in given:
            policy = await validated_policy(self.ctx, actor.organisation_id, update.policy)

        async def op(db: aiosqlite.Connection, now: datetime) -> None:
            before = await member_record(db, member_id)
            if before is None or before["organisation_id"] != actor.organisation_id:
                raise NotFound(f"no member {member_id}")
            await self._apply(db, actor.organisation_id, member_id, update, before, policy, now)
            after = await member_record(db, member_id)
            assert after is not None
            if _differs(before, after):
                await self.ctx.record(
                    db, actor, "member.update", "member", member_id, before, after, now
                )

        await self.ctx.change(op, refresh=[member_id])
        return public_member(await self.ctx.member_in_org(actor, member_id))

    async def _apply(
        self,
        db: aiosqlite.Connection,
        organisation_id: int,
        member_id: int,
        update: MemberUpdate,
        before: dict[str, Any],
        policy: dict[str, Any] | None,
        now: datetime,
    ) -> None:
        given = update.given
        await changes.ensure_unique(
            db,
            organisation_id,
            member_id,
            email=update.email if "email" in given else None,
            identifier=update.identifier if "identifier" in given else None,
        )
        values: dict[str, Any] = {}
        for column in _COLUMNS:
            if column in given:
                value = getattr(update, column)
                values[column] = to_text(value) if isinstance(value, datetime) else value
        role = str(update.role) if update.role is not None else before["role"]
        if "role" in given:
            values["role"] = role
        if "role" in given or "extra_roles" in given:
            extra = before["extra_roles"] if update.extra_roles is None else update.extra_roles
            values["extra_roles"] = json.dumps(changes.extra_roles(role, extra))
        if update.permissions is not None:
            overrides = {str(k): v for k, v in update.permissions.items()}
            values["permissions"] = json.dumps(overrides, sort_keys=True)
        values["updated_at"] = to_text(now)
        assignments = ", ".join(f"{name} = :{name}" for name in values)
        await db.execute(
            f"UPDATE members SET {assignments} WHERE id = :id", {**values, "id": member_id}
        )
        if update.groups is not None:
            await changes.set_groups(db, organisation_id, member_id, update.groups)
        if update.tokens is not None:
            await changes.remove_tokens(db, member_id, update.tokens.remove)
            await changes.add_tokens(db, member_id, update.tokens.add, now)
        if "policy" in given:
            await changes.write_policy(db, organisation_id, member_id, policy, now)


def _differs(before: dict[str, Any], after: dict[str, Any]) -> bool:
    ignore = {"updated_at"}
    return {k: v for k, v in before.items() if k not in ignore} != {
        k: v for k, v in after.items() if k not in ignore
    }
