"""The end of a membership and the change of Owner: bulk deactivation, deletion with
anonymisation, ownership transfer.

Deletion is definitive. The member's charging history stays for accounting,
without personal data. What is kept and what is removed:

- ``members`` row: kept with its id, organisation, role, created_at and the
  new ``deleted_at``; status becomes Inactive; first and last name emptied;
  email, phone, identifier, valid_until and last activity set to NULL; extra
  roles and permission overrides emptied. Deleted members are invisible to
  the API and the CLI and never authorize.
- ``tokens`` of the member: deleted (the badge values are personal data; a
  badge can then be given to someone else).
- ``api_tokens``: revoked (rows kept: id, name, prefix, dates).
- ``member_groups`` and the member's own policy: deleted.
- ``invitations`` not accepted: deleted (accepted ones hold no personal data).
- ``transactions`` of the member: kept with ``member_id``, station, times,
  meter readings, energy and cost; ``id_token`` and ``stop_id_token`` set to
  NULL. Elsewhere, a ``stop_id_token`` or an unattributed ``id_token`` equal
  to one of the member's badges is set to NULL as well.
- ``transaction_events`` of those transactions (and any whose idToken is one
  of the member's badges): the payload's ``idToken.idToken`` is replaced by
  ``"<erased>"``; everything else (seqNo, meter values, timestamps) is kept.
- ``quarantine`` payloads carrying one of the member's badges as ``idTag`` or
  ``idToken.idToken``: that value is replaced the same way.
- ``audit_log`` entries about the member: kept (who did what when), with
  names, email, phone, identifier and tokens removed from ``before`` and
  ``after``; the owner's email in the organisation's creation entry, if it
  was theirs, is removed too. The deletion itself is audited without
  personal data.

A member with a session still running cannot be deleted (409): deactivate
them, and delete once the session has ended, so that no later message of the
charger brings their badge back into the records.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import aiosqlite

from gateway.members.errors import Conflict, Forbidden, Invalid, NotFound
from gateway.members.inputs import BulkDeactivation
from gateway.members.roles import Permission, Role
from gateway.members.service import Actor, AdminContext, public_member
from gateway.store.admin import member_record
from gateway.store.members import token_key
from gateway.timeutil import to_text

ERASED = "<erased>"
PERSONAL_FIELDS = ("first_name", "last_name", "email", "phone", "identifier", "tokens")


class MemberLifecycle:
    def __init__(self, ctx: AdminContext) -> None:
        self.ctx = ctx

    # -- bulk deactivation ------------------------------------------------------------------

    async def bulk_deactivate(self, actor: Actor, selection: BulkDeactivation) -> dict[str, Any]:
        """Deactivate a selection or a group: what was deactivated, what was refused and why.

        Members already Inactive are reported as unchanged. One transaction,
        one audit entry per member deactivated.
        """
        actor.require(Permission.MEMBERS)
        if selection.group is not None:
            found = await self.ctx.store.group_member_ids(actor.organisation_id, selection.group)
            if found is None:
                raise NotFound(f"no group {selection.group}", field="group")
            ids: Sequence[int] = found
        else:
            assert selection.member_ids is not None
            ids = list(dict.fromkeys(selection.member_ids))

        async def op(db: aiosqlite.Connection, now: datetime) -> dict[str, Any]:
            done: list[int] = []
            unchanged: list[int] = []
            refused: list[dict[str, Any]] = []
            for member_id in ids:
                before = await member_record(db, member_id)
                reason = _bulk_refusal(actor, member_id, before)
                if reason is not None:
                    refused.append(
                        {"member_id": member_id, "reason": reason[0], "detail": reason[1]}
                    )
                    continue
                assert before is not None
                if before["status"] == "Inactive":
                    unchanged.append(member_id)
                    continue
                await db.execute(
                    "UPDATE members SET status = 'Inactive', updated_at = ? WHERE id = ?",
                    (to_text(now), member_id),
                )
                after = {**before, "status": "Inactive", "updated_at": to_text(now)}
                await self.ctx.record(
                    db, actor, "member.deactivate", "member", member_id, before, after, now
                )
                done.append(member_id)
            return {"deactivated": done, "unchanged": unchanged, "refused": refused}

        result: dict[str, Any] = await self.ctx.change(op, refresh=None)
        return result

    # -- deletion ---------------------------------------------------------------------------

    async def delete(self, actor: Actor, member_id: int) -> dict[str, Any]:
        """Delete a member for good; their transactions stay, anonymised (module docstring)."""
        actor.require(Permission.MEMBERS)
        member = await self.ctx.member_in_org(actor, member_id)
        if member_id == actor.member_id:
            raise Forbidden("you cannot delete yourself")
        if not actor.may_act_on(member):
            raise Forbidden("you may only delete members whose role is below yours")
        if member["role"] == Role.OWNER:  # only the command line gets here
            raise Conflict("the Owner cannot be deleted: transfer ownership first")

        async def op(db: aiosqlite.Connection, now: datetime) -> dict[str, Any]:
            record = await member_record(db, member_id)
            if record is None or record["organisation_id"] != actor.organisation_id:
                raise NotFound(f"no member {member_id}")
            async with db.execute(
                "SELECT count(*) FROM transactions WHERE member_id = ? AND state = 'Open'",
                (member_id,),
            ) as cur:
                row = await cur.fetchone()
            if row is not None and row[0]:
                raise Conflict(
                    "this member has a session running: deactivate them now and delete"
                    " once it has ended"
                )
            kept = await _anonymise(db, actor.organisation_id, record, now)
            before = {k: record[k] for k in ("id", "role", "status", "created_at")}
            after = {"id": member_id, "deleted_at": to_text(now), "transactions_kept": kept}
            await self.ctx.record(
                db, actor, "member.delete", "member", member_id, before, after, now
            )
            return after

        result: dict[str, Any] = await self.ctx.change(op, refresh=[member_id])
        return result

    # -- ownership --------------------------------------------------------------------------

    async def transfer_ownership(self, actor: Actor, member_id: int) -> dict[str, Any]:
        """The Owner hands over to an Active member; the old Owner becomes Administrator.

        Only the Owner (or the command line) may do it. One transaction; one
        audit entry for each of the two members.
        """
        if actor.member_id is not None and Role.OWNER not in actor.roles:
            raise Forbidden("only the Owner may transfer ownership")
        target = await self.ctx.member_in_org(actor, member_id)
        if member_id == actor.member_id:
            raise Invalid("you are the Owner already", field="member_id")
        if target["status"] != "Active":
            raise Conflict(
                f"member {member_id} is {target['status']}: only an Active member becomes Owner",
                field="member_id",
            )

        async def op(db: aiosqlite.Connection, now: datetime) -> tuple[int | None, int]:
            async with db.execute(
                "SELECT id FROM members WHERE organisation_id = ? AND role = 'Owner'"
                " AND deleted_at IS NULL",
                (actor.organisation_id,),
            ) as cur:
                owners = [int(r[0]) for r in await cur.fetchall()]
            if len(owners) > 1:
                raise Conflict("this organisation has several Owners; fix it by hand first")
            old = owners[0] if owners else None
            if old == member_id:
                raise Invalid(f"member {member_id} is the Owner already", field="member_id")
            if actor.member_id is not None and old != actor.member_id:
                raise Forbidden("only the Owner may transfer ownership")
            new_before = await member_record(db, member_id)
            if new_before is None or new_before["status"] != "Active":
                raise Conflict(f"member {member_id} is not Active", field="member_id")
            if old is not None:
                old_before = await member_record(db, old)
                await _set_role(db, old, Role.ADMINISTRATOR, now)
                old_after = await member_record(db, old)
                await self.ctx.record(
                    db, actor, "ownership.transfer", "member", old, old_before, old_after, now
                )
            await _set_role(db, member_id, Role.OWNER, now)
            new_after = await member_record(db, member_id)
            await self.ctx.record(
                db, actor, "ownership.transfer", "member", member_id, new_before, new_after, now
            )
            return old, member_id

        old, new = await self.ctx.change(op, refresh=False)
        store = self.ctx.store
        previous = await store.member(actor.organisation_id, old) if old is not None else None
        owner = await store.member(actor.organisation_id, new)
        assert owner is not None
        return {
            "owner": public_member(owner),
            "previous_owner": public_member(previous) if previous else None,
        }


def _bulk_refusal(
    actor: Actor, member_id: int, member: dict[str, Any] | None
) -> tuple[str, str] | None:
    if member is None or member["organisation_id"] != actor.organisation_id:
        return "not_found", f"no member {member_id}"
    if member_id == actor.member_id:
        return "self", "you cannot deactivate yourself"
    if member["role"] == Role.OWNER:
        return "owner", "the Owner is not deactivated in bulk"
    if not actor.may_act_on(member):
        return "role", "you may only deactivate members whose role is below yours"
    return None


async def _set_role(db: aiosqlite.Connection, member_id: int, role: Role, now: datetime) -> None:
    """The member's main role becomes ``role``; an extra role equal to it, or Owner, is dropped."""
    await db.execute(
        "UPDATE members SET role = ?, updated_at = ?,"
        " extra_roles = (SELECT json_group_array(value) FROM json_each(members.extra_roles)"
        "                WHERE value NOT IN (?, 'Owner'))"
        " WHERE id = ?",
        (str(role), to_text(now), str(role), member_id),
    )


async def _anonymise(
    db: aiosqlite.Connection, organisation_id: int, member: dict[str, Any], now: datetime
) -> int:
    """Remove the member's personal data (see the module docstring); transactions kept."""
    member_id = member["id"]
    keys = sorted({token_key(t["value"]) for t in member["tokens"]})
    marks = ", ".join("?" * len(keys))
    stamp = to_text(now)
    await db.execute(
        "UPDATE members SET status = 'Inactive', first_name = '', last_name = '', email = NULL,"
        " phone = NULL, identifier = NULL, valid_until = NULL, last_activity_at = NULL,"
        " extra_roles = '[]', permissions = '{}', deleted_at = ?, updated_at = ? WHERE id = ?",
        (stamp, stamp, member_id),
    )
    await db.execute("DELETE FROM tokens WHERE member_id = ?", (member_id,))
    await db.execute(
        "UPDATE api_tokens SET revoked_at = ? WHERE member_id = ? AND revoked_at IS NULL",
        (stamp, member_id),
    )
    await db.execute("DELETE FROM member_groups WHERE member_id = ?", (member_id,))
    await db.execute(
        "DELETE FROM policies WHERE scope_kind = 'member' AND scope_id = ?", (member_id,)
    )
    await db.execute(
        "DELETE FROM invitations WHERE member_id = ? AND accepted_at IS NULL", (member_id,)
    )
    # Transactions: kept for accounting, without the badge.
    await db.execute(
        "UPDATE transaction_events SET payload = json_set(payload, '$.idToken.idToken', ?)"
        " WHERE json_extract(payload, '$.idToken.idToken') IS NOT NULL AND ("
        " transaction_id IN (SELECT id FROM transactions WHERE member_id = ?)"
        f" OR upper(trim(json_extract(payload, '$.idToken.idToken'))) IN ({marks}))",
        (ERASED, member_id, *keys),
    )
    async with db.execute(
        "SELECT count(*) FROM transactions WHERE member_id = ?", (member_id,)
    ) as cur:
        row = await cur.fetchone()
    kept = int(row[0]) if row else 0
    await db.execute(
        "UPDATE transactions SET id_token = NULL, stop_id_token = NULL WHERE member_id = ?",
        (member_id,),
    )
    if keys:
        await db.execute(
            f"UPDATE transactions SET stop_id_token = NULL WHERE upper(trim(stop_id_token))"
            f" IN ({marks})",
            keys,
        )
        await db.execute(
            f"UPDATE transactions SET id_token = NULL WHERE member_id IS NULL"
            f" AND upper(trim(id_token)) IN ({marks})",
            keys,
        )
        for path in ("$.idTag", "$.idToken.idToken"):
            await db.execute(
                f"UPDATE quarantine SET payload = json_set(payload, '{path}', ?)"
                f" WHERE json_valid(payload)"
                f" AND upper(trim(json_extract(payload, '{path}'))) IN ({marks})",
                (ERASED, *keys),
            )
    # The audit log keeps who did what when, not who the member was.
    removals = ", ".join(f"'$.{name}'" for name in PERSONAL_FIELDS)
    for column in ("before", "after"):
        await db.execute(
            f"UPDATE audit_log SET {column} = json_remove({column}, {removals})"
            f" WHERE organisation_id = ? AND target_kind = 'member' AND target_id = ?"
            f" AND {column} IS NOT NULL AND json_valid({column})",
            (organisation_id, str(member_id)),
        )
    if member["email"]:
        await db.execute(
            "UPDATE audit_log SET after = json_remove(after, '$.owner')"
            " WHERE organisation_id = ? AND action = 'organisation.create'"
            " AND lower(json_extract(after, '$.owner')) = lower(?)",
            (organisation_id, member["email"]),
        )
    return kept
