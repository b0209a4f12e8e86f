"""Routes: members import (a synchronisation, CSV or XLSX) and export (see
:mod:`gateway.members.csv_sync` and ``docs/admin/sync-and-statistics.md``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel

from gateway.admin_api.deps import CurrentActor, Services
from gateway.admin_api.schemas import content, errors
from gateway.members.csv_sync import FileTooLarge, MemberSync
from gateway.members.sync_table import XLSX_TYPE

router = APIRouter(tags=["sync"], responses=errors(401, 403, 422))


class LineError(BaseModel):
    line: int | None
    field: str | None
    message: str


class ImportCounts(BaseModel):
    added: int
    updated: int
    unchanged: int
    deactivated: int
    skipped: int
    bad_rows: int


class ImportReportOut(BaseModel):
    applied: bool
    dry_run: bool
    apply_valid: bool
    rows: int
    counts: ImportCounts
    added: list[dict[str, Any]]
    updated: list[dict[str, Any]]
    deactivated: list[dict[str, Any]]
    skipped: list[dict[str, Any]]
    errors: list[LineError]


_FILE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            XLSX_TYPE: {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


async def _body(request: Request, limit: int) -> bytes:
    """The raw request body, refused (413) past the largest file an import takes: at once
    when ``Content-Length`` says so, else as soon as more has arrived."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise FileTooLarge(limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise FileTooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "/members/import",
    response_model=ImportReportOut,
    summary="Synchronise members with a CSV or XLSX file (add, update, deactivate)",
    responses={
        422: {"description": "bad rows (each with its line) and nothing applied"},
        413: {"description": "the file is larger than admin.import_max_bytes (32 MiB)"},
        415: {"description": "the body is neither text/csv nor XLSX"},
    },
    openapi_extra=_FILE_BODY,
)
async def import_members(
    request: Request,
    services: Services,
    actor: CurrentActor,
    dry_run: Annotated[bool, Query(description="report what would change; write nothing")] = False,
    apply_valid: Annotated[
        bool, Query(description="write the valid rows even if some rows are bad")
    ] = False,
) -> Response:
    report = await MemberSync(services.ctx).import_members(
        actor,
        await _body(request, services.ctx.settings.import_max_bytes),
        request.headers.get("content-type"),
        dry_run=dry_run,
        apply_valid=apply_valid,
    )
    # The report is JSON already, made in the bulk worker (100,000 rows: megabytes).
    return Response(report.body(), status_code=report.status, media_type="application/json")


@router.get(
    "/members/export",
    summary="The organisation's members as CSV or XLSX, with chosen columns",
    response_class=Response,
    responses=content("text/csv", XLSX_TYPE),
)
async def export_members(
    services: Services,
    actor: CurrentActor,
    format: Annotated[str, Query(pattern="^(csv|xlsx)$")] = "csv",
    columns: Annotated[
        str | None, Query(description="comma-separated columns (default: all import columns)")
    ] = None,
) -> Response:
    content, media_type = await MemberSync(services.ctx).export_members(actor, format, columns)
    return Response(
        content,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="members.{format}"'},
    )
