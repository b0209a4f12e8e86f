"""The part of a member import or export that runs in the bulk worker
(:mod:`gateway.bulk_work`), off the event loop: read the file, check each row, read the
organisation, plan, and hand back the report and the writes as bytes.

Everything here is synchronous and takes picklable arguments; nothing raises a
domain error (the service checks the request before the job, and a file that
cannot be imported is a report).
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gateway.members.sync_plan import ActorView, Existing, Plan, Progress, plan_import
from gateway.members.sync_rows import MemberRow, RowError, check_header, parse_row
from gateway.members.sync_table import TableError, read_table, write_csv, write_xlsx
from gateway.store import sync as store


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

    def rejection(self) -> tuple[str, str | None] | None:
        """Why nothing was applied, in one sentence, and the field; None when not refused."""
        if not self.rejected:
            return None
        first = self.errors[0]
        where = f"line {first.line}: " if first.line is not None else ""
        bad = self.counts()["bad_rows"]
        summary = f"{where}{first.message}"
        if bad > 1:
            summary = f"{bad} bad rows ({summary})"
        return f"{summary}; nothing was applied", first.field


def _who(member: Existing) -> dict[str, Any]:
    return {"id": member.id, "identifier": member.identifier, "email": member.email}


@dataclass(frozen=True, slots=True)
class ImportJob:
    """An import as the worker needs it (picklable)."""

    database: Path
    organisation_id: int
    actor: ActorView
    auditor: tuple[int | None, str]  # (member id, label) of the audit entries
    data: bytes
    kind: tuple[str, str | None]  # ("csv" | "xlsx", charset)
    dry_run: bool
    apply_valid: bool
    now: datetime
    chunk_rows: int
    max_rows: int


@dataclass(frozen=True, slots=True)
class Planned:
    """The worker's answer: the report (JSON, as the API sends it), and for an import to
    write, its writes in chunks (:func:`gateway.store.sync.run_chunk`)."""

    report: bytes
    rejection: tuple[str, str | None] | None
    counts: dict[str, int]
    chunks: list[bytes]
    rows: int  # of the writes, in every chunk
    changed: list[int]


def plan_file(job: ImportJob, progress: Progress | None = None) -> Planned:
    """Read, check and plan ``job``'s file against the organisation as the database has it."""
    with store.reading(job.database) as db:
        timezone = _zone(store.organisation_timezone(db, job.organisation_id))
        rows, file_errors = _rows(job, timezone, progress)
        if file_errors:
            report = ImportReport(job.dry_run, job.apply_valid, False, Plan(rows=0), file_errors)
            return _planned(report)
        file_tokens = [t for row in rows for t in row.tokens or ()]
        with _without_gc():
            state = store.load_state(db, job.organisation_id, file_tokens)
            plan = plan_import(rows, state, job.actor, progress)
            report = ImportReport(job.dry_run, job.apply_valid, False, plan, plan.errors)
            if job.dry_run or report.rejected:
                return _planned(report)
            program = store.write_program(
                db, state, plan, job.now, job.auditor, _summary(plan, job.apply_valid)
            )
            report.applied = True  # once the service has written every chunk
            return _planned(report, program, job.chunk_rows)


def _planned(report: ImportReport, program: store.Program | None = None, size: int = 0) -> Planned:
    body = json.dumps(report.as_dict(), ensure_ascii=False, separators=(",", ":")).encode()
    if program is None:
        return Planned(body, report.rejection(), report.counts(), [], 0, [])
    chunks = store.chunks_of(program, size)
    return Planned(body, None, report.counts(), chunks, program.rows(), program.changed)


def _summary(plan: Plan, apply_valid: bool) -> dict[str, Any]:
    return {
        "rows": plan.rows,
        "added": len(plan.additions),
        "updated": len(plan.updates),
        "unchanged": plan.unchanged,
        "deactivated": len(plan.deactivations),
        "skipped": len(plan.skipped),
        "bad_rows": plan.bad_lines,
        "apply_valid": apply_valid,
    }


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name) if name else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _rows(
    job: ImportJob, timezone: ZoneInfo, progress: Progress | None
) -> tuple[list[MemberRow], list[RowError]]:
    """The file's rows, each checked on its own; or why the file cannot be imported."""
    try:
        table = read_table(job.data, *job.kind, max_rows=job.max_rows)
    except TableError as exc:
        return [], [exc.error]
    header, header_errors = check_header(table.header)
    if header_errors:
        return [], header_errors
    if not table.rows:
        message = "the file has no member rows (an import would deactivate every member)"
        return [], [RowError(None, "file", message)]
    rows = []
    with _without_gc():
        for index, source in enumerate(table.rows):
            rows.append(parse_row(source.line, header, source.cells, timezone))
            if progress is not None and index % 5000 == 4999:
                progress("reading", index + 1, len(table.rows))
    if progress is not None:
        progress("reading", len(rows), len(rows))
    return rows, []


def export_file(database: Path, organisation_id: int, fmt: str, columns: list[str]) -> bytes:
    """The organisation's members as a CSV or XLSX file of ``columns``."""
    with store.reading(database) as db:
        state = store.load_state(db, organisation_id)
    rows = [[_cell(member, name) for name in columns] for member in state.members]
    if fmt == "csv":
        return write_csv(columns, rows)
    return write_xlsx(columns, rows, "members")


def _cell(member: Existing, column: str) -> str:
    value = member.value(column)
    if value is None:
        return ""
    if isinstance(value, tuple):
        return ";".join(value)
    return str(value)
