"""Routes: statistics and reports per member, organisation and station, JSON or CSV
(see :mod:`gateway.members.statistics`)."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from gateway.admin_api.deps import CurrentActor, MemberId, Services
from gateway.admin_api.schemas import content, errors
from gateway.members.bounds import DayOrInstant, Page, PerPage
from gateway.members.statistics import (
    MEMBER_COLUMNS,
    ORGANISATION_COLUMNS,
    STATION_COLUMNS,
    MemberStatistics,
    to_csv,
)

router = APIRouter(
    tags=["statistics"],
    responses={**errors(401, 403, 404, 422), **content("application/json", "text/csv")},
)

Since = Annotated[
    DayOrInstant | None,
    Query(description="a date (whole day, organisation's time zone) or an ISO 8601 date-time"),
]
Until = Annotated[
    DayOrInstant | None,
    Query(description="a date (that day included) or a date-time (excluded); default: see docs"),
]
Format = Annotated[str, Query(pattern="^(json|csv)$", description="json, or csv to download")]


def _csv(name: str, content: bytes) -> Response:
    name = re.sub(r"[^A-Za-z0-9._-]", "_", name)
    return Response(
        content,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


@router.get(
    "/statistics/members",
    summary="Each member's sessions, energy, cost, stations and sessions per week",
)
async def members(
    services: Services,
    actor: CurrentActor,
    since: Since = None,
    until: Until = None,
    format: Format = "json",
    page: Page = 1,
    per_page: PerPage = 100,
) -> Any:
    stats = MemberStatistics(services.ctx)
    if format == "csv":
        report = await stats.members(actor, since, until, page=None)
        return _csv("member-statistics", to_csv(MEMBER_COLUMNS, report["items"]))
    return await stats.members(actor, since, until, page=page, per_page=per_page)


@router.get(
    "/statistics/members/{member_id}",
    summary="One member's figures and weekly breakdown (every member may read their own)",
)
async def member(
    member_id: MemberId,
    services: Services,
    actor: CurrentActor,
    since: Since = None,
    until: Until = None,
    format: Format = "json",
) -> Any:
    report = await MemberStatistics(services.ctx).member(actor, member_id, since, until)
    if format == "csv":
        return _csv(f"member-{member_id}-statistics", to_csv(MEMBER_COLUMNS, [report]))
    return report


@router.get(
    "/statistics/organisation",
    summary="The organisation's totals (its members' sessions) and weekly breakdown",
)
async def organisation(
    services: Services,
    actor: CurrentActor,
    since: Since = None,
    until: Until = None,
    format: Format = "json",
) -> Any:
    report: dict[str, Any] = await MemberStatistics(services.ctx).organisation(actor, since, until)
    if format == "csv":
        row = {**report, **report["period"]}
        return _csv("organisation-statistics", to_csv(ORGANISATION_COLUMNS, [row]))
    return report


@router.get(
    "/statistics/stations",
    summary="Each of the organisation's stations: every session there, identified or not",
)
async def stations(
    services: Services,
    actor: CurrentActor,
    since: Since = None,
    until: Until = None,
    format: Format = "json",
) -> Any:
    report = await MemberStatistics(services.ctx).stations(actor, since, until)
    if format == "csv":
        return _csv("station-statistics", to_csv(STATION_COLUMNS, report["items"]))
    return report


@router.get("/statistics/stations/{charge_point_id}", summary="One station's figures by week")
async def station(
    charge_point_id: str,
    services: Services,
    actor: CurrentActor,
    since: Since = None,
    until: Until = None,
    format: Format = "json",
) -> Any:
    report = await MemberStatistics(services.ctx).station(actor, charge_point_id, since, until)
    if format == "csv":
        return _csv(f"station-{charge_point_id}-statistics", to_csv(STATION_COLUMNS, [report]))
    return report
