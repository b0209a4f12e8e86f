"""Routes: the caller, members (list, read, deactivate, reactivate), API tokens."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, status

from gateway.admin_api.deps import CurrentActor, Services
from gateway.admin_api.schemas import (
    ApiTokenCreate,
    ApiTokenCreated,
    ApiTokenOut,
    MemberOut,
    MemberPage,
)
from gateway.store.admin import MemberFilter

router = APIRouter(tags=["members"])


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
    page: Annotated[int, Query(ge=1)] = 1,
    per_page: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    where = MemberFilter(status=status, role=role, group=group, search=q)
    return await services.members.list_members(actor, where, page, per_page)


@router.get("/members/{member_id}", response_model=MemberOut)
async def get_member(member_id: int, services: Services, actor: CurrentActor) -> dict[str, Any]:
    return await services.members.get_member(actor, member_id)


@router.post(
    "/members/{member_id}/deactivate",
    response_model=MemberOut,
    summary="Deactivate: access lost at once on every charger, data kept",
)
async def deactivate(member_id: int, services: Services, actor: CurrentActor) -> dict[str, Any]:
    return await services.members.set_status(actor, member_id, "Inactive")


@router.post("/members/{member_id}/reactivate", response_model=MemberOut)
async def reactivate(member_id: int, services: Services, actor: CurrentActor) -> dict[str, Any]:
    return await services.members.set_status(actor, member_id, "Active")


@router.get(
    "/api-tokens",
    response_model=list[ApiTokenOut],
    summary="Your API tokens (or another member's, with the members permission)",
)
async def list_api_tokens(
    services: Services, actor: CurrentActor, member_id: int | None = None
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
    token_id: int, services: Services, actor: CurrentActor
) -> dict[str, Any]:
    return await services.members.revoke_api_token(actor, token_id)
