"""Routes: invite, re-send, and the activation link (GET shows, POST accepts).

The activation link needs no API token: its secret is the credential.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, status

from gateway.admin_api.deps import CurrentActor, MemberId, Services
from gateway.admin_api.schemas import errors
from gateway.admin_api.schemas_members import (
    InvitationAccepted,
    InvitationCreated,
    InvitationView,
    NewMember,
)
from gateway.members.invitations import InvitationService

router = APIRouter(tags=["invitations"], responses=errors(401, 403, 404, 409, 410, 422))
Secret = Annotated[str, Query(min_length=8, max_length=200, description="from the link")]


def _base_url(request: Request) -> str:
    """Where the inviter reached the API: the link's base when ``public_url`` is not set."""
    return str(request.base_url).rstrip("/")


@router.post(
    "/invitations",
    response_model=InvitationCreated,
    status_code=status.HTTP_201_CREATED,
    summary="Invite by email: a Pending member and an activation link (mailed, or returned)",
)
async def invite(
    body: NewMember, request: Request, services: Services, actor: CurrentActor
) -> dict[str, Any]:
    return await InvitationService(services.ctx).invite(actor, body, _base_url(request))


@router.post(
    "/members/{member_id}/resend-invitation",
    response_model=InvitationCreated,
    summary="A new activation link for a Pending member; earlier links stop working",
)
async def resend_invitation(
    member_id: MemberId, request: Request, services: Services, actor: CurrentActor
) -> dict[str, Any]:
    return await InvitationService(services.ctx).resend(actor, member_id, _base_url(request))


@router.get(
    "/invitations/accept",
    response_model=InvitationView,
    summary="What an activation link is for (organisation, email, role, expiry); accepts nothing",
)
async def show_invitation(token: Secret, services: Services) -> dict[str, Any]:
    return await InvitationService(services.ctx, None).show(token)


@router.post(
    "/invitations/accept",
    response_model=InvitationAccepted,
    summary="Accept: the member becomes Active and receives a first API token (shown once)",
)
async def accept_invitation(token: Secret, services: Services) -> dict[str, Any]:
    return await InvitationService(services.ctx, None).accept(token)
