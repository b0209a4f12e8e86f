"""Routes: the audit log (who did what, when, before and after), newest first."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from gateway.admin_api.deps import CurrentActor, Services
from gateway.admin_api.schemas import errors
from gateway.admin_api.schemas_members import AuditPage
from gateway.members.bounds import Id, Instant, Page, PerPage

router = APIRouter(tags=["audit"], responses=errors(401, 403, 422))


@router.get(
    "/audit",
    response_model=AuditPage,
    summary="Audit log entries, newest first, by member, actor and period",
)
async def audit_log(
    services: Services,
    actor: CurrentActor,
    member_id: Annotated[Id | None, Query(description="entries about this member")] = None,
    actor_id: Annotated[Id | None, Query(description="entries made by this member")] = None,
    since: Annotated[Instant | None, Query(description="ISO 8601 with offset, inclusive")] = None,
    until: Annotated[Instant | None, Query(description="ISO 8601 with offset, exclusive")] = None,
    page: Page = 1,
    per_page: PerPage = 50,
) -> dict[str, Any]:
    return await services.members.audit_entries(
        actor,
        member_id=member_id,
        actor_id=actor_id,
        since=since,
        until=until,
        page=page,
        per_page=per_page,
    )
