"""Routes: the audit log (who did what, when, before and after), newest first."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from gateway.admin_api.deps import CurrentActor, Services
from gateway.admin_api.schemas import Error
from gateway.admin_api.schemas_members import AuditPage
from gateway.members.inputs import MAX_ID

ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": Error} for code in (401, 403, 422)}
router = APIRouter(tags=["audit"], responses=ERRORS)


@router.get(
    "/audit",
    response_model=AuditPage,
    summary="Audit log entries, newest first, by member, actor and period",
)
async def audit_log(
    services: Services,
    actor: CurrentActor,
    member_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="entries about this member")
    ] = None,
    actor_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="entries made by this member")
    ] = None,
    since: Annotated[datetime | None, Query(description="ISO 8601 with offset, inclusive")] = None,
    until: Annotated[datetime | None, Query(description="ISO 8601 with offset, exclusive")] = None,
    page: Annotated[int, Query(ge=1)] = 1,
    per_page: Annotated[int, Query(ge=1, le=500)] = 50,
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
