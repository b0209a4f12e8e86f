"""Invitations: a Pending member and an activation link, accepted by the invitee.

- ``invite``: the member is written Pending with their roles, groups, tokens
  and policy, together with an invitation (only a SHA-256 of its secret is
  kept) that expires after ``[admin] invitation_ttl_hours``; one transaction.
  Then the link is mailed (SMTP configured) or returned to the inviter (not
  configured). A mail that fails does not undo anything: the answer says it
  was not sent and why, and the invitation can be re-sent.
- ``resend``: a new link; every earlier one stops working.
- ``show``: what a link is for (organisation, email, role, expiry, state),
  without accepting it; no API token needed, the link is the credential.
- ``accept``: the member becomes Active and gets their first API token.

The link is ``{public_url}/api/v1/invitations/accept?token=...``; without
``[admin] public_url`` the base is the address the inviter reached the API at
(the command line: the configured HTTP listening address).
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import aiosqlite
import structlog

from gateway.members.changes import insert_member
from gateway.members.editing import check_grants, validated_policy
from gateway.members.errors import Conflict, Forbidden, Invalid, NotFound, ServiceError
from gateway.members.grants import refused_roles
from gateway.members.inputs import NewMember
from gateway.members.mailer import Mailer, MailError, invitation_message, mailer_for
from gateway.members.roles import RANK, Permission
from gateway.members.service import (
    Actor,
    AdminContext,
    actor_for,
    insert_api_token,
    new_secret,
    public_member,
    roles_of,
)
from gateway.store.admin import hash_secret, member_record
from gateway.timeutil import parse_ocpp_datetime, to_text

log = structlog.get_logger("gateway.invitations")
ACCEPT_PATH = "/api/v1/invitations/accept"
SECRET_PREFIX = "inv_"


class Gone(ServiceError):
    """The invitation expired or was replaced by a newer one (HTTP 410)."""

    status = 410


@dataclass(frozen=True, slots=True)
class Delivery:
    """How the link went out: ``smtp`` (sent, or not and why) or ``none`` (no SMTP set up:
    the link is in the answer to the inviter)."""

    method: Literal["smtp", "none"]
    sent: bool
    error: str | None = None


_FROM_SETTINGS: Any = object()  # default mailer: SMTP when configured, else none


class InvitationService:
    def __init__(self, ctx: AdminContext, mailer: Mailer | None = _FROM_SETTINGS) -> None:
        self.ctx = ctx
        self.mailer: Mailer | None = (
            mailer_for(ctx.settings) if mailer is _FROM_SETTINGS else mailer
        )

    def link(self, secret: str, base_url: str) -> str:
        base = self.ctx.settings.public_url or base_url
        return f"{base.rstrip('/')}{ACCEPT_PATH}?token={secret}"

    # -- inviting ---------------------------------------------------------------------------

    async def invite(self, actor: Actor, new: NewMember, base_url: str) -> dict[str, Any]:
        """Invite by email with roles (only ones you may grant), tokens, groups, policy."""
        actor.require(Permission.MEMBERS)
        check_grants(actor, new.role, new.extra_roles, {}, new.permissions)
        policy = await validated_policy(self.ctx, actor.organisation_id, new.policy)
        secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        ttl = timedelta(hours=self.ctx.settings.invitation_ttl_hours)

        async def op(db: aiosqlite.Connection, now: datetime) -> tuple[int, dict[str, Any]]:
            member_id = await insert_member(db, actor.organisation_id, new, policy, "Pending", now)
            invitation = await _insert_invitation(db, member_id, actor, secret, now, now + ttl)
            after = await member_record(db, member_id)
            assert after is not None
            entry = {**after, "invitation": _public(invitation)}
            await self.ctx.record(db, actor, "member.invite", "member", member_id, None, entry, now)
            return member_id, invitation

        member_id, invitation = await self.ctx.change(op, refresh=None)
        member = await self.ctx.member_in_org(actor, member_id)
        return await self._send(actor, member, invitation, secret, base_url)

    async def resend(self, actor: Actor, member_id: int, base_url: str) -> dict[str, Any]:
        """A new link for a Pending member; the earlier ones stop working."""
        actor.require(Permission.MEMBERS)
        member = await self.ctx.member_in_org(actor, member_id)
        if member["status"] != "Pending":
            raise Conflict(
                f"member {member_id} is {member['status']}: only a Pending member is invited"
            )
        if not member["email"]:
            raise Invalid(f"member {member_id} has no email to invite", field="email")
        if refused_roles(actor.roles, roles_of(member)):
            raise Forbidden("you may only re-send invitations for roles you may grant")
        secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        ttl = timedelta(hours=self.ctx.settings.invitation_ttl_hours)

        async def op(db: aiosqlite.Connection, now: datetime) -> dict[str, Any]:
            async with db.execute(
                "SELECT id FROM invitations WHERE member_id = ? AND accepted_at IS NULL"
                " AND revoked_at IS NULL",
                (member_id,),
            ) as cur:
                replaced = [int(r[0]) for r in await cur.fetchall()]
            await db.execute(
                "UPDATE invitations SET revoked_at = ? WHERE member_id = ?"
                " AND accepted_at IS NULL AND revoked_at IS NULL",
                (to_text(now), member_id),
            )
            invitation = await _insert_invitation(db, member_id, actor, secret, now, now + ttl)
            await self.ctx.record(
                db,
                actor,
                "invitation.resend",
                "member",
                member_id,
                {"replaced_invitations": replaced},
                {"invitation": _public(invitation)},
                now,
            )
            return invitation

        invitation = await self.ctx.change(op, refresh=False)
        return await self._send(actor, member, invitation, secret, base_url)

    async def _send(
        self,
        actor: Actor,
        member: dict[str, Any],
        invitation: dict[str, Any],
        secret: str,
        base_url: str,
    ) -> dict[str, Any]:
        link = self.link(secret, base_url)
        delivery = await self._deliver(member, invitation, link)
        return {
            "member": public_member(member),
            "invitation": {**_public(invitation), "link": None if self.mailer else link},
            "delivery": asdict(delivery),
        }

    async def _deliver(
        self, member: dict[str, Any], invitation: dict[str, Any], link: str
    ) -> Delivery:
        if self.mailer is None:
            log.info(
                "invitation not mailed (no smtp_host): the activation link is in the answer"
                " to the inviter",
                member_id=member["id"],
                link=redacted_link(link),
            )
            return Delivery("none", sent=False)
        organisation = await self.ctx.store.organisation(member["organisation_id"])
        assert organisation is not None
        message = invitation_message(
            sender=self.ctx.settings.mail_from,
            to=member["email"],
            organisation=organisation["name"],
            role=_role_label(member),
            link=link,
            expires_at=parse_ocpp_datetime(invitation["expires_at"]),
        )
        try:
            await self.mailer.send(message)
        except MailError as exc:
            log.warning("invitation mail not sent; re-send it later", member_id=member["id"],
                        error=str(exc))  # fmt: skip
            return Delivery("smtp", sent=False, error=str(exc))
        log.info("invitation mailed", member_id=member["id"])
        return Delivery("smtp", sent=True)

    # -- the invitee ------------------------------------------------------------------------

    async def show(self, secret: str) -> dict[str, Any]:
        """What the link is for, without accepting it."""
        found = await self.ctx.store.invitation(hash_secret(secret))
        if found is None:
            raise NotFound("this invitation link is not valid", field="token")
        roles = sorted(roles_of(found), key=RANK.__getitem__, reverse=True)
        return {
            "organisation": found["organisation"],
            "email": found["email"],
            "first_name": found["first_name"],
            "last_name": found["last_name"],
            "role": found["role"],
            "roles": roles,
            "expires_at": found["expires_at"],
            "state": _state(found, self.ctx.clock()),
        }

    async def accept(self, secret: str) -> dict[str, Any]:
        """The invitee accepts: Active, with a first API token (shown once)."""
        api_secret = new_secret()

        async def op(db: aiosqlite.Connection, now: datetime) -> tuple[int, int, int]:
            async with db.execute(
                "SELECT i.id, i.member_id, i.expires_at, i.accepted_at, i.revoked_at,"
                " m.organisation_id FROM invitations i JOIN members m ON m.id = i.member_id"
                " WHERE i.token_hash = ? AND m.deleted_at IS NULL",
                (hash_secret(secret),),
            ) as cur:
                row = await cur.fetchone()
            if row is None:
                raise NotFound("this invitation link is not valid", field="token")
            invitation = dict(row)
            state = _state(invitation, now)
            if state == "accepted":
                raise Conflict("this invitation has been accepted already", field="token")
            if state == "replaced":
                raise Gone("this link was replaced by a newer invitation: use the latest one",
                           field="token")  # fmt: skip
            if state == "expired":
                raise Gone(
                    f"this invitation expired at {invitation['expires_at']}: ask for a new one",
                    field="token",
                )
            member_id = invitation["member_id"]
            before = await member_record(db, member_id)
            if before is None or before["status"] != "Pending":
                raise Conflict("this member is no longer waiting for an invitation", field="token")
            await db.execute(
                "UPDATE invitations SET accepted_at = ? WHERE id = ?",
                (to_text(now), invitation["id"]),
            )
            await db.execute(
                "UPDATE members SET status = 'Active', updated_at = ? WHERE id = ?",
                (to_text(now), member_id),
            )
            token_id = await insert_api_token(db, member_id, "first token", api_secret, now)
            after = await member_record(db, member_id)
            invitee = actor_for(before)
            await self.ctx.record(
                db, invitee, "invitation.accept", "member", member_id, before, after, now
            )
            return invitation["organisation_id"], member_id, token_id

        org_id, member_id, token_id = await self.ctx.change(op, refresh=None)
        member = await self.ctx.store.member(org_id, member_id)
        token = await self.ctx.store.api_token(token_id)
        assert member is not None and token is not None
        return {"member": public_member(member), "token": token, "secret": api_secret}


async def _insert_invitation(
    db: aiosqlite.Connection,
    member_id: int,
    actor: Actor,
    secret: str,
    now: datetime,
    expires: datetime,
) -> dict[str, Any]:
    cur = await db.execute(
        "INSERT INTO invitations (member_id, token_hash, invited_by, created_at, expires_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (member_id, hash_secret(secret), actor.member_id, to_text(now), to_text(expires)),
    )
    assert cur.lastrowid is not None
    return {
        "id": cur.lastrowid,
        "member_id": member_id,
        "invited_by": actor.member_id,
        "created_at": to_text(now),
        "expires_at": to_text(expires),
    }


def _public(invitation: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "member_id", "invited_by", "created_at", "expires_at")
    return {k: invitation[k] for k in keys}


def _state(invitation: dict[str, Any], now: datetime) -> str:
    """open, accepted, replaced (a newer link was sent) or expired."""
    if invitation["accepted_at"] is not None:
        return "accepted"
    if invitation["revoked_at"] is not None:
        return "replaced"
    if parse_ocpp_datetime(invitation["expires_at"]) <= now:
        return "expired"
    return "open"


def redacted_link(link: str) -> str:
    """The link as logs show it: the secret cut to its prefix (logs hold no credentials)."""
    base, _, secret = link.partition("token=")
    return f"{base}token={secret[: len(SECRET_PREFIX) + 4]}..."


def _role_label(member: dict[str, Any]) -> str:
    roles = sorted(roles_of(member), key=RANK.__getitem__, reverse=True)
    return " and ".join(str(r) for r in roles)
