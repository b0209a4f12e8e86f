"""Bodies of the member-management routes: invitations, edits, bulk deactivation, deletion,
ownership, audit log (they make their part of the OpenAPI document).

The request bodies are the validated inputs of the services
(:mod:`gateway.members.inputs`), shared with the command line.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from gateway.admin_api.schemas import ApiTokenOut, MemberOut
from gateway.members.inputs import (
    BulkDeactivation,
    MemberUpdate,
    NewMember,
    OwnershipTransfer,
    TokenChanges,
    TokenInput,
)


class InvitationOut(BaseModel):
    id: int
    member_id: int
    invited_by: int | None = Field(description="the inviting member; null: the command line")
    created_at: str
    expires_at: str
    link: str | None = Field(
        description="the activation link, only when it was not mailed (no SMTP configured)"
    )


class DeliveryOut(BaseModel):
    method: Literal["smtp", "none"] = Field(description="none: no SMTP configured")
    sent: bool
    error: str | None = Field(description="why the mail was not sent (re-send the invitation)")


class InvitationCreated(BaseModel):
    member: MemberOut
    invitation: InvitationOut
    delivery: DeliveryOut


class InvitationView(BaseModel):
    """What an activation link is for (GET on the link: nothing is accepted)."""

    organisation: str
    email: str | None
    first_name: str
    last_name: str
    role: str
    roles: list[str]
    expires_at: str
    state: Literal["open", "accepted", "replaced", "expired"]


class InvitationAccepted(BaseModel):
    member: MemberOut
    token: ApiTokenOut
    secret: str = Field(description="your first API token; shown once, only a hash is stored")


class Refusal(BaseModel):
    member_id: int
    reason: Literal["not_found", "self", "owner", "role"]
    detail: str


class BulkResult(BaseModel):
    deactivated: list[int]
    unchanged: list[int] = Field(description="already Inactive")
    refused: list[Refusal]


class Deleted(BaseModel):
    id: int
    deleted_at: str
    transactions_kept: int = Field(description="kept for accounting, without personal data")


class OwnershipChanged(BaseModel):
    owner: MemberOut
    previous_owner: MemberOut | None = Field(description="now an Administrator")


class AuditEntry(BaseModel):
    id: int
    actor_member_id: int | None = Field(description="null: the command line")
    actor: str = Field(description='"member:ID" or "cli"')
    action: str
    target_kind: str
    target_id: str | None
    before: Any
    after: Any
    at: str


class AuditPage(BaseModel):
    items: list[AuditEntry]
    total: int
    page: int
    per_page: int


__all__ = [
    "AuditEntry",
    "AuditPage",
    "BulkDeactivation",
    "BulkResult",
    "Deleted",
    "DeliveryOut",
    "InvitationAccepted",
    "InvitationCreated",
    "InvitationOut",
    "InvitationView",
    "MemberUpdate",
    "NewMember",
    "OwnershipChanged",
    "OwnershipTransfer",
    "Refusal",
    "TokenChanges",
    "TokenInput",
]
