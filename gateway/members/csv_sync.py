"""Member import (a synchronisation) and export, CSV or XLSX: the service behind
``POST /members/import``, ``GET /members/export`` and ``ocpp-gateway members import|export``.

The layers: ``sync_table`` reads and writes files, ``sync_rows`` checks the
columns and each row, ``sync_plan`` decides what the file changes (all
pure); this module reads the organisation and writes the plan through
``gateway.store.sync``.

An import is all or nothing: any bad row and nothing is written, unless
``apply_valid`` asks to write the valid rows. It is planned and written in
one write transaction (the plan is made from the state it changes), with
one audit entry per member changed (``member.import.add`` / ``update`` /
``deactivate``) and a summary entry (``member.import``), then the policy
cache is refreshed. A dry run plans from the current state and writes
nothing. Needs the members permission.
"""

from __future__ import annotations

import gc
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import aiosqlite
import structlog

from gateway.members.errors import Conflict, Invalid, ServiceError
from gateway.members.roles import Permission
from gateway.members.service import Actor, AdminContext
from gateway.members.sync_plan import ActorView, Existing, OrgState, Plan, Progress, plan_import
from gateway.members.sync_rows import COLUMNS, MemberRow, RowError, check_header, parse_row
from gateway.members.sync_table import (
    MEDIA_TYPES,
    TableError,
    file_kind,
    read_table,
    write_csv,
    write_xlsx,
)
from gateway.store import sync as store

log = structlog.get_logger("gateway.members.sync")
MAX_FILE_BYTES = 64 * 1024 * 1024
"""The largest file an import takes (a 100,000-member CSV is about 10 MB)."""
REFRESH_ALL_OVER = 1000
"""Past this many changed members the cache is refreshed whole rather than by member."""


@contextmanager
def _without_gc() -> Iterator[None]:
    """No cyclic garbage collection during a synchronous pass over a large file: with
    100,000 rows alive, each full collection would walk them all again (it makes no cycles)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class UnsupportedMediaType(ServiceError):
    """The request body is neither CSV nor XLSX (HTTP 415)."""

    status = 415


class FileTooLarge(ServiceError):
    """The file is larger than :data:`MAX_FILE_BYTES` (HTTP 413)."""

    status = 413

    def __init__(self) -> None:
        limit = MAX_FILE_BYTES // (1024 * 1024)
        super().__init__(f"the file is larger than {limit} MiB: split it", field="file")


@dataclass
class ImportReport:
    """What an import did (or, for a dry run or a refused file, would do)."""

    dry_run: bool
    apply_valid: bool
    applied: bool
    plan: Plan
    errors: list[RowError]

    @property
    def rejected(self) -> bool:
        """Refused whole: bad rows without ``apply_valid``, or a file that cannot be read."""
        return bool(self.errors) and (not self.apply_valid or self.plan.rows == 0)

    def counts(self) -> dict[str, int]:
        plan = self.plan
        return {
            "added": len(plan.additions),
            "updated": len(plan.updates),
            "unchanged": plan.unchanged,
            "deactivated": len(plan.deactivations),
            "skipped": len(plan.skipped),
            "bad_rows": len({e.line for e in self.errors}),
        }

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON shows it (lists may be tuples: ``json`` writes them as arrays)."""
        plan = self.plan
        return {
            "applied": self.applied,
            "dry_run": self.dry_run,
            "apply_valid": self.apply_valid,
            "rows": plan.rows,
            "counts": self.counts(),
            "added": [{"line": a.line, "id": a.id, **a.values} for a in plan.additions],
            "updated": [
                {
                    "line": u.line,
                    "id": u.member.id,
                    "identifier": u.member.identifier,
                    "email": u.member.email,
                    "changes": {k: {"before": b, "after": a} for k, (b, a) in u.changes.items()},
                }
                for u in plan.updates
            ],
            "deactivated": [_who(m) for m in plan.deactivations],
            "skipped": [{**_who(m), "reason": reason} for m, reason in plan.skipped],
            "errors": [e.as_dict() for e in self.errors],
        }


def _who(member: Existing) -> dict[str, Any]:
    return {"id": member.id, "identifier": member.identifier, "email": member.email}


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
    ) -> ImportReport:
        actor.require(Permission.MEMBERS)
        rows, file_errors = await self._rows(actor, data, content_type, progress)
        if file_errors:
            return ImportReport(dry_run, apply_valid, False, Plan(rows=0), file_errors)
        view = ActorView(actor.member_id, actor.roles)
        file_tokens = [t for row in rows for t in row.tokens or ()]
        if dry_run:
            state = await store.load_state(self.ctx.db.reader, actor.organisation_id, file_tokens)
            with _without_gc():
                plan = plan_import(rows, state, view, progress)
            return ImportReport(True, apply_valid, False, plan, plan.errors)

        async def op(db: aiosqlite.Connection, now: datetime) -> tuple[ImportReport, list[int]]:
            state = await store.load_state(db, actor.organisation_id, file_tokens)
            with _without_gc():
                plan = plan_import(rows, state, view, progress)
            report = ImportReport(False, apply_valid, False, plan, plan.errors)
            if report.rejected:
                return report, []
            changed = await self._write(db, actor, state, plan, apply_valid, now, progress)
            report.applied = True
            return report, changed

        try:
            report, changed = await self.ctx.change(op, refresh=False)
        except sqlite3.IntegrityError:  # only if the checks missed a clash: nothing was written
            raise Conflict(
                "the file clashes with the organisation's members (a duplicate email, identifier"
                " or token); nothing was applied",
                field="file",
            ) from None
        if changed:
            try:
                await self.ctx.refresh(None if len(changed) > REFRESH_ALL_OVER else changed)
            except Exception as exc:  # committed: the cache poller applies it within a second
                log.error("cache refresh after an import failed", error=repr(exc))
        return report

    async def _write(
        self,
        db: aiosqlite.Connection,
        actor: Actor,
        state: OrgState,
        plan: Plan,
        apply_valid: bool,
        now: datetime,
        progress: Progress | None,
    ) -> list[int]:
        auditor = (actor.member_id, actor.label)
        changed = await store.apply_plan(db, state, plan, now, auditor, progress)
        summary = {
            "rows": plan.rows,
            "added": len(plan.additions),
            "updated": len(plan.updates),
            "unchanged": plan.unchanged,
            "deactivated": len(plan.deactivations),
            "skipped": len(plan.skipped),
            "bad_rows": plan.bad_lines,
            "apply_valid": apply_valid,
        }
        await self.ctx.record(
            db, actor, "member.import", "organisation", actor.organisation_id, None, summary, now
        )
        return changed

    async def _rows(
        self, actor: Actor, data: bytes, content_type: str | None, progress: Progress | None
    ) -> tuple[list[MemberRow], list[RowError]]:
        """The file's rows, each checked on its own; or why the file cannot be imported."""
        if len(data) > MAX_FILE_BYTES:
            raise FileTooLarge()
        kind = file_kind(content_type)
        if kind is None:
            raise UnsupportedMediaType(
                f"send the file as text/csv or {MEDIA_TYPES['xlsx']}, not {content_type!r}",
                field="content-type",
            )
        try:
            table = read_table(data, *kind)
        except TableError as exc:
            return [], [exc.error]
        header, header_errors = check_header(table.header)
        if header_errors:
            return [], header_errors
        if not table.rows:
            message = "the file has no member rows (an import would deactivate every member)"
            return [], [RowError(None, "file", message)]
        timezone = await self._timezone(actor.organisation_id)
        rows = []
        with _without_gc():
            for index, source in enumerate(table.rows):
                rows.append(parse_row(source.line, header, source.cells, timezone))
                if progress is not None and index % 5000 == 4999:
                    progress("reading", index + 1, len(table.rows))
        if progress is not None:
            progress("reading", len(rows), len(rows))
        return rows, []

    async def _timezone(self, organisation_id: int) -> ZoneInfo:
        row = await self.ctx.db.fetchone(
            "SELECT timezone FROM organisations WHERE id = ?", (organisation_id,)
        )
        try:
            return ZoneInfo(str(row[0])) if row else ZoneInfo("UTC")
        except (ZoneInfoNotFoundError, ValueError):
            return ZoneInfo("UTC")

    # -- export ------------------------------------------------------------------------------

    async def export_members(
        self, actor: Actor, fmt: str = "csv", columns: str | None = None
    ) -> tuple[bytes, str]:
        """The organisation's members as a file: (content, media type)."""
        actor.require(Permission.MEMBERS)
        if fmt not in MEDIA_TYPES:
            raise Invalid(f"format is csv or xlsx, not {fmt!r}", field="format")
        chosen = parse_columns(columns)
        state = await store.load_state(self.ctx.db.reader, actor.organisation_id)
        rows = [[_cell(member, name) for name in chosen] for member in state.members]
        if fmt == "csv":
            return write_csv(chosen, rows), MEDIA_TYPES["csv"]
        return write_xlsx(chosen, rows, "members"), MEDIA_TYPES["xlsx"]


def _cell(member: Existing, column: str) -> str:
    value = member.value(column)
    if value is None:
        return ""
    if isinstance(value, tuple):
        return ";".join(value)
    return str(value)
