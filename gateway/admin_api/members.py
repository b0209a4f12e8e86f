"""Routes: the caller, members (list, read, edit, deactivate, reactivate, bulk deactivation,
delete), ownership transfer, API tokens. Rules live in the services (gateway.members)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, status

from gateway.admin_api.deps import CurrentActor, MemberId, Services
from gateway.admin_api.schemas import (
    ApiTokenCreate,
    ApiTokenCreated,
    ApiTokenOut,
    MemberOut,
    MemberPage,
    errors,
)
from gateway.admin_api.schemas_members import (
    BulkDeactivation,
    BulkResult,
    Deleted,
    MemberUpdate,
    OwnershipChanged,
    OwnershipTransfer,
)
from gateway.members.bounds import Id, Page, PerPage
from gateway.members.editing import MemberEditor
from gateway.members.lifecycle import MemberLifecycle
from gateway.store.admin import MemberFilter

router = APIRouter(tags=["members"], responses=errors(401, 403, 404, 409, 422))
TokenId = Annotated[Id, Path(description="the API token's id")]


@router.get("/me", response_model=MemberOut, summary="The member the API token belongs to")
async def me(services: Services, actor: CurrentActor) -> dict[str, Any]:
    assert actor.member_id is not None
    return await services.members.get_member(actor, actor.member_id)


@router.get("/members", response_model=MemberPage, summary="List, filter and search members")
async def list_members(
    services: Services,
    actor: CurrentActor,
    status: Annotated[str | None, Query(pattern="^(Pending|Active|Inactive)$")] = None,
    role: str | None = None,
    group: str | None = None,
    q: Annotated[str | None, Query(description="search in name, email, identifier")] = None,
    page: Page = 1,
    per_page: PerPage = 50,
) -> dict[str, Any]:
    where = MemberFilter(status=status, role=role, group=group, search=q)
    return await services.members.list_members(actor, where, page, per_page)


@router.get("/members/{member_id}", response_model=MemberOut)
async def get_member(
    member_id: MemberId, services: Services, actor: CurrentActor
) -> dict[str, Any]:
    return await services.members.get_member(actor, member_id)


@router.patch(
    "/members/{member_id}",
    response_model=MemberOut,
    summary="Edit a member (only the fields given); your own name, email and phone",
)
async def edit_member(
    member_id: MemberId, body: MemberUpdate, services: Services, actor: CurrentActor
) -> dict[str, Any]:
    return await MemberEditor(services.ctx).edit(actor, member_id, body)


@router.delete(
    "/members/{member_id}",
    response_model=Deleted,
    summary="Delete for good: personal data removed, transactions kept anonymised",
)
async def delete_member(
    member_id: MemberId, services: Services, actor: CurrentActor
) -> dict[str, Any]:
    return await MemberLifecycle(services.ctx).delete(actor, member_id)


@router.post(
    "/members/bulk-deactivate",
    response_model=BulkResult,
    summary="Deactivate a selection of members or a whole group; says what was refused and why",
)
async def bulk_deactivate(
    body: BulkDeactivation, services: Services, actor: CurrentActor
) -> dict[str, Any]:
    return await MemberLifecycle(services.ctx).bulk_deactivate(actor, body)


@router.post(
    "/organisation/transfer-ownership",
    response_model=OwnershipChanged,
    summary="The Owner hands over to an Active member and becomes Administrator",
)
async def transfer_ownership(
    body: OwnershipTransfer, services: Services, actor: CurrentActor
) -> dict[str, Any]:
    return await MemberLifecycle(services.ctx).transfer_ownership(actor, body.member_id)


@router.post(
    "/members/{member_id}/deactivate",
    response_model=MemberOut,
    summary="Deactivate: access lost at once on every charger, data kept",
)
async def deactivate(
    member_id: MemberId, services: Services, actor: CurrentActor
) -> dict[str, Any]:
    return await services.members.set_status(actor, member_id, "Inactive")


@router.post("/members/{member_id}/reactivate", response_model=MemberOut)
async def reactivate(
    member_id: MemberId, services: Services, actor: CurrentActor
) -> dict[str, Any]:
    return await services.members.set_status(actor, member_id, "Active")


@router.get(
    "/api-tokens",
    response_model=list[ApiTokenOut],
    summary="Your API tokens (or another member's, with the members permission)",
)
async def list_api_tokens(
    services: Services,
    actor: CurrentActor,
    member_id: Id | None = None,
) -> list[Any]:
    return await services.members.list_api_tokens(actor, member_id)


@router.post(
    "/api-tokens",
    response_model=ApiTokenCreated,
    status_code=status.HTTP_201_CREATED,
    summary="A new API token for yourself; the secret is shown once",
)
async def create_api_token(
    body: ApiTokenCreate, services: Services, actor: CurrentActor
) -> dict[str, Any]:
    token, secret = await services.members.create_api_token(actor, body.name)
    return {"token": token, "secret": secret}


@router.delete("/api-tokens/{token_id}", response_model=ApiTokenOut, summary="Revoke an API token")
async def revoke_api_token(
    token_id: TokenId, services: Services, actor: CurrentActor
) -> dict[str, Any]:
    return await services.members.revoke_api_token(actor, token_id)
