"""CLI: members import/export (CSV, XLSX) and statistics.

``ocpp-gateway members import FILE --organisation NAME [--dry-run] [--apply-valid]``
synchronises the organisation's members with the file (see
``docs/admin/sync-and-statistics.md``); a progress bar on stderr when it is
a terminal. Exit status: 0 without bad rows; 1 when bad rows (each printed
with its line on stderr) or an unreadable file left everything unapplied; 3
when ``--apply-valid`` wrote the valid rows and some were bad.

``ocpp-gateway members export`` and ``ocpp-gateway stats members|organisation|stations``
read only. Everything acts as the command line (audited as ``cli``); a
running gateway sees an import's changes within a second.

Registered by :mod:`gateway.cli`: top-level commands in ``COMMANDS``, actions of the
``members`` command in ``ACTIONS``; both dispatched to :func:`run`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from gateway import cli_organisation
from gateway.config import Settings
from gateway.members.csv_sync import ImportResult, MemberSync
from gateway.members.errors import ServiceError
from gateway.members.service import Actor, AdminContext
from gateway.members.statistics import (
    MEMBER_COLUMNS,
    ORGANISATION_COLUMNS,
    STATION_COLUMNS,
    MemberStatistics,
    to_csv,
)
from gateway.members.sync_rows import COLUMNS
from gateway.members.sync_table import XLSX_TYPE
from gateway.store.database import Database
from gateway.timeutil import system_clock

COMMANDS: tuple[str, ...] = ("stats",)
ACTIONS: tuple[str, ...] = ("import", "export")
EXIT_REJECTED = 1
EXIT_PARTIAL = 3


class CommandError(Exception):
    """A user error: printed on stderr, exit status 1."""


def add_parsers(sub: Any) -> None:
    """``stats``."""
    stats = sub.add_parser("stats", help="usage statistics of a period (default: this month)")
    stats.add_argument("report", choices=("members", "organisation", "stations"))
    stats.add_argument("--since", help="a date (whole day) or ISO 8601 date-time")
    stats.add_argument("--until", help="a date (included) or date-time (excluded)")
    stats.add_argument("--format", choices=("table", "csv"), default="table")
    cli_organisation.add_option(stats)


def add_member_actions(members: Any) -> None:
    """``members import`` and ``members export``."""
    imp = members.add_parser(
        "import",
        help="synchronise members with a CSV or XLSX file: add, update, deactivate the absent",
    )
    imp.add_argument("file", help="a .csv or .xlsx file, or - for CSV on standard input")
    cli_organisation.add_option(imp)
    imp.add_argument("--dry-run", action="store_true", help="show what would change; write nothing")
    imp.add_argument(
        "--apply-valid", action="store_true", help="write the valid rows even if some are bad"
    )
    imp.add_argument("--charset", help="the CSV file's charset (default UTF-8)")
    imp.add_argument("--json", action="store_true", help="print the whole report as JSON")
    imp.add_argument("--verbose", action="store_true", help="list every change, not only counts")
    exp = members.add_parser("export", help="the organisation's members as CSV or XLSX")
    exp.add_argument("--format", choices=("csv", "xlsx"), help="default: from --output, else csv")
    exp.add_argument(
        "--columns", nargs="+", help=f"columns, space or comma separated (of: {', '.join(COLUMNS)})"
    )
    exp.add_argument("--output", type=Path, help="the file to write (default: standard output)")
    cli_organisation.add_option(exp)


async def run(args: argparse.Namespace, db: Database, settings: Settings) -> int:
    ctx = AdminContext(db, system_clock, settings.admin)
    try:
        actor = Actor.command_line(await cli_organisation.resolve(db, args.organisation))
        if args.command == "stats":
            return await _stats(args, MemberStatistics(ctx), actor)
        if args.action == "import":
            return await _import(args, MemberSync(ctx), actor)
        return await _export(args, MemberSync(ctx), actor)
    except (ServiceError, CommandError) as exc:
        message = exc.message if isinstance(exc, ServiceError) else str(exc)
        print(f"error: {message}", file=sys.stderr)
        return 1


class ProgressBar:
    """A text bar updated in place (``\\r``) on a terminal."""

    def __init__(self, stream: TextIO, width: int = 30) -> None:
        self.stream = stream
        self.width = width
        self.shown: tuple[str, int] | None = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        percent = 100 if total <= 0 else min(100, done * 100 // total)
        if (stage, percent) == self.shown:
            return
        self.shown = (stage, percent)
        filled = self.width * percent // 100
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(f"\r{stage:<8} [{bar}] {percent:3d}% {done:,}/{total:,}")
        self.stream.flush()

    def close(self) -> None:
        if self.shown is not None:
            self.stream.write("\n")
            self.stream.flush()


def _read(args: argparse.Namespace) -> tuple[bytes, str]:
    if args.file == "-":
        data, xlsx = sys.stdin.buffer.read(), False
    else:
        path = Path(args.file)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror}") from None
        xlsx = path.suffix.lower() in (".xlsx", ".xlsm")
    if xlsx:
        return data, XLSX_TYPE
    return data, "text/csv" + (f"; charset={args.charset}" if args.charset else "")


async def _import(args: argparse.Namespace, sync: MemberSync, actor: Actor) -> int:
    data, content_type = _read(args)
    bar = ProgressBar(sys.stderr) if sys.stderr.isatty() else None
    try:
        report = await sync.import_members(
            actor,
            data,
            content_type,
            dry_run=args.dry_run,
            apply_valid=args.apply_valid,
            progress=bar,
        )
    finally:
        if bar is not None:
            bar.close()
    if args.json:
        print(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
    elif args.dry_run or args.verbose:
        for line in describe(report.as_dict()):
            print(line)
    for error in report.errors:
        where = f"line {error.line}" if error.line is not None else "file"
        field = f" {error.field}:" if error.field else ""
        print(f"{where}:{field} {error.message}", file=sys.stderr)
    print(summary(report), file=sys.stderr)
    if report.rejected:
        return EXIT_REJECTED
    return EXIT_PARTIAL if report.errors else 0


def describe(body: dict[str, Any]) -> list[str]:
    """One line per change of an import report."""
    lines = []
    for added in body["added"]:
        lines.append(
            f"add     line {added['line']}: {added['identifier']} <{added['email']}>"
            f" {added['role']} {added['status']}"
        )
    for updated in body["updated"]:
        changes = "; ".join(
            f"{name}: {_show(change['before'])} -> {_show(change['after'])}"
            for name, change in updated["changes"].items()
        )
        who = updated["identifier"] or updated["email"]
        lines.append(f"update  line {updated['line']}: {who}: {changes}")
    for member in body["deactivated"]:
        lines.append(f"deactivate  {member['identifier'] or '-'} <{member['email']}>")
    for member in body["skipped"]:
        who = f"{member['identifier'] or '-'} <{member['email']}>"
        lines.append(f"skip    {who}: {member['reason']}")
    return lines


def _show(value: Any) -> str:
    if value is None or value == [] or value == ():
        return "(none)"
    if isinstance(value, list | tuple):
        return ";".join(str(v) for v in value)
    return str(value)


def summary(report: ImportResult) -> str:
    counts = report.counts()
    text = (
        f"added {counts['added']}, updated {counts['updated']}, unchanged {counts['unchanged']},"
        f" deactivated {counts['deactivated']}, skipped {counts['skipped']},"
        f" bad rows {counts['bad_rows']}"
    )
    if report.dry_run:
        return f"{text} (dry run: nothing written)"
    if report.rejected:
        return f"{text} (nothing applied: fix the bad rows, or --apply-valid)"
    return f"{text} (applied)"


async def _export(args: argparse.Namespace, sync: MemberSync, actor: Actor) -> int:
    fmt = args.format
    if fmt is None:
        fmt = "xlsx" if args.output is not None and args.output.suffix == ".xlsx" else "csv"
    columns = ",".join(args.columns) if args.columns else None
    content, _ = await sync.export_members(actor, fmt, columns)
    if args.output is not None:
        args.output.write_bytes(content)
        print(f"wrote {args.output}", file=sys.stderr)
    elif fmt == "xlsx" and sys.stdout.isatty():
        raise CommandError("XLSX is not for a terminal: give --output FILE")
    else:
        sys.stdout.buffer.write(content)
        sys.stdout.flush()
    return 0


async def _stats(args: argparse.Namespace, stats: MemberStatistics, actor: Actor) -> int:
    columns: tuple[str, ...]
    if args.report == "members":
        items = (await stats.members(actor, args.since, args.until, page=None))["items"]
        columns = MEMBER_COLUMNS
    elif args.report == "stations":
        items = (await stats.stations(actor, args.since, args.until))["items"]
        columns = STATION_COLUMNS
    else:
        report = await stats.organisation(actor, args.since, args.until)
        items, columns = [{**report, **report["period"]}], ORGANISATION_COLUMNS
    if args.format == "csv":
        sys.stdout.buffer.write(to_csv(columns, items))
        sys.stdout.flush()
        return 0
    print(table(columns, items))
    return 0


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ";".join(str(v) for v in value)
    return str(value)


def table(columns: tuple[str, ...], items: list[dict[str, Any]]) -> str:
    """Aligned text columns (lists joined with ``;``)."""
    cells = [[_cell(item.get(c)) for c in columns] for item in items]
    widths = [max([len(c), *(len(row[i]) for row in cells)]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    for row in cells:
        lines.append("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)
