"""Member import (a synchronisation) and export, CSV or XLSX: the service behind
``POST /members/import``, ``GET /members/export`` and ``ocpp-gateway members import|export``.

The layers: ``sync_table`` reads and writes files, ``sync_rows`` checks the
columns and each row, ``sync_plan`` decides what the file changes (all
pure); ``sync_job`` runs them in the bulk worker (:mod:`gateway.bulk_work`,
off the event loop) with the organisation read from the database, and makes
the report and the writes; this module checks the request, runs the job and
writes its chunks through the database's bulk lane.

An import is all or nothing as far as the file goes: any bad row and
nothing is written, unless ``apply_valid`` asks to write the valid rows. The
plan is written in chunks of ``admin.import_chunk_rows`` rows, each its own
transaction, so that chargers' writes pass between them; other member
changes wait for the import (the plan is written to the state it was made
from). A crash in the middle leaves the chunks already written: importing
the same file again finishes the synchronisation. One audit entry per
member changed (``member.import.add`` / ``update`` / ``deactivate``) and a
summary entry (``member.import``), then the policy cache is refreshed. A dry
run plans from the current state and writes nothing. Needs the members
permission.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from functools import partial
from typing import Any

import structlog

from gateway.members.errors import Conflict, Invalid, ServiceError
from gateway.members.roles import Permission
from gateway.members.service import Actor, AdminContext
from gateway.members.sync_job import ImportJob, Planned, export_file, plan_file
from gateway.members.sync_plan import ActorView, Progress
from gateway.members.sync_rows import COLUMNS, RowError
from gateway.members.sync_table import MEDIA_TYPES, file_kind
from gateway.store import sync as store

log = structlog.get_logger("gateway.members.sync")
REFRESH_ALL_OVER = 1000
"""Past this many changed members the cache is refreshed whole rather than by member."""


class UnsupportedMediaType(ServiceError):
    """The request body is neither CSV nor XLSX (HTTP 415)."""

    status = 415


class FileTooLarge(ServiceError):
    """The file is larger than the configured limit (``admin.import_max_bytes``, HTTP 413)."""

    status = 413

    def __init__(self, limit: int) -> None:
        size = f"{limit / (1024 * 1024):g} MiB" if limit >= 1024 * 1024 else f"{limit:,} bytes"
        message = f"the file is larger than {size}, the largest an import takes"
        super().__init__(message, field="file")


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What an import did (or, for a dry run or a refused file, would do): the report as
    JSON bytes, made by the worker, and what the service needs of it."""

    dry_run: bool
    planned: Planned

    @property
    def rejected(self) -> bool:
        return self.planned.rejection is not None

    @property
    def status(self) -> int:
        return 422 if self.rejected else 200

    def counts(self) -> dict[str, int]:
        return self.planned.counts

    def body(self) -> bytes:
        """The response: the report, led by the error and its field when refused whole."""
        if self.planned.rejection is None:
            return self.planned.report
        message, field = self.planned.rejection
        lead = json.dumps({"error": message, "field": field}, ensure_ascii=False)
        return f"{lead[:-1]},".encode() + self.planned.report[1:]

    def as_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.planned.report)
        return result

    @property
    def errors(self) -> list[RowError]:
        return [RowError(e["line"], e["field"], e["message"]) for e in self.as_dict()["errors"]]


def parse_columns(text: str | None) -> list[str]:
    """``a,b`` → the export's columns (default: all), or 422 naming the unknown one."""
    if text is None or not text.strip():
        return list(COLUMNS)
    chosen: list[str] = []
    for part in text.split(","):
        name = part.strip().lower().replace(" ", "_").replace("-", "_")
        if not name:
            continue
        if name not in COLUMNS:
            raise Invalid(
                f"unknown column {part.strip()!r} (the columns: {', '.join(COLUMNS)})",
                field="columns",
            )
        if name not in chosen:
            chosen.append(name)
    return chosen or list(COLUMNS)


class MemberSync:
    def __init__(self, ctx: AdminContext) -> None:
        self.ctx = ctx

    async def import_members(
        self,
        actor: Actor,
        data: bytes,
        content_type: str | None,
        *,
        dry_run: bool = False,
        apply_valid: bool = False,
        progress: Progress | None = None,
    ) -> ImportResult:
        """Read, check and plan the file in the bulk worker; then, unless it is a dry run or
        refused, write the plan one chunk at a time (:meth:`Database.write_bulk`).

        From reading the organisation to the last chunk the import holds
        ``ctx.bulk_lock``: other member changes wait, so that the plan is written
        to the state it was made from. Chargers' writes do not wait (they go
        between the chunks).
        """
        actor.require(Permission.MEMBERS)
        settings = self.ctx.settings
        if len(data) > settings.import_max_bytes:
            raise FileTooLarge(settings.import_max_bytes)
        kind = file_kind(content_type)
        if kind is None:
            raise UnsupportedMediaType(
                f"send the file as text/csv or {MEDIA_TYPES['xlsx']}, not {content_type!r}",
                field="content-type",
            )
        worker = self.ctx.worker
        job = ImportJob(
            self.ctx.db.path,
            actor.organisation_id,
            ActorView(actor.member_id, actor.roles),
            (actor.member_id, actor.label),
            data,
            kind,
            dry_run,
            apply_valid,
            self.ctx.clock(),
            settings.import_chunk_rows,
            settings.import_max_rows,
        )
        plan = partial(plan_file, progress=progress) if worker.in_process else plan_file
        if dry_run:
            return ImportResult(True, await worker.run(plan, job))
        async with self.ctx.bulk_lock:
            planned = await worker.run(plan, job)
            if planned.chunks:
                await self._write(planned, progress)
        if planned.changed:
            changed = planned.changed
            try:
                await self.ctx.refresh(None if len(changed) > REFRESH_ALL_OVER else changed)
            except Exception as exc:  # committed: the cache poller applies it within a second
                log.error("cache refresh after an import failed", error=repr(exc))
        return ImportResult(False, planned)

    async def _write(self, planned: Planned, progress: Progress | None) -> None:
        written = 0
        for done, chunk in enumerate(planned.chunks):
            try:
                written += await self.ctx.db.write_bulk(partial(store.run_chunk, chunk=chunk))
            except sqlite3.IntegrityError:  # only if the checks missed a clash
                so_far = "nothing was applied" if done == 0 else (
                    f"{written:,} of {planned.rows:,} rows were written: correct the file and"
                    " import it again to finish (an import converges)"
                )  # fmt: skip
                raise Conflict(
                    "the file clashes with the organisation's members (a duplicate email,"
                    f" identifier or token); {so_far}",
                    field="file",
                ) from None
            if progress is not None:
                progress("writing", written, planned.rows)

    # -- export ------------------------------------------------------------------------------

    async def export_members(
        self, actor: Actor, fmt: str = "csv", columns: str | None = None
    ) -> tuple[bytes, str]:
        """The organisation's members as a file: (content, media type), made in the worker."""
        actor.require(Permission.MEMBERS)
        if fmt not in MEDIA_TYPES:
            raise Invalid(f"format is csv or xlsx, not {fmt!r}", field="format")
        chosen = parse_columns(columns)
        content = await self.ctx.worker.run(
            export_file, self.ctx.db.path, actor.organisation_id, fmt, chosen
        )
        return content, MEDIA_TYPES[fmt]
