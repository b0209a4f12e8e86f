"""Member files in and out: CSV (UTF-8) and XLSX (first sheet), as tables of text cells.

Limits, checked while reading (a file past them is refused whole, before any
row is checked): at most ``max_rows`` rows after the header (the
``admin.import_max_rows`` setting; CSV records or sheet rows, empty ones
included) and :data:`MAX_COLUMNS` cells per row (empty trailing cells
aside). The byte size is checked before (``admin.import_max_bytes``).

CSV: UTF-8, with or without a byte order mark, or the charset the request's
``Content-Type`` names; the delimiter is the one of ``,`` ``;`` or tab that
the header line uses most. XLSX: the first sheet; numbers, dates and
booleans become text. Both keep each row's line number (physical line of the
CSV, row of the sheet). Written files have every cell as text (an XLSX cell
starting with ``=`` stays text, never a formula).

CSV injection (OWASP "CSV Injection"): a written CSV cell that a spreadsheet would
run as a formula (starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return)
is prefixed with a single quote, and so is one already starting with a quote;
reading a CSV removes that one quote again, so an exported file imported again
changes nothing. A quote before anything else is the value's own.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import Cell

from gateway.members.sync_rows import RowError, SourceRow, Table

CSV_TYPES = ("text/csv", "application/csv", "text/plain")
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "xlsx": XLSX_TYPE}
MAX_COLUMNS = 50
"""The most cells a row may have (the file's columns are at most the ten of an import)."""
DEFAULT_MAX_ROWS = 200_000


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_ESCAPED = (*FORMULA_STARTS, "'")


def neutralise(cell: str) -> str:
    """A CSV cell no spreadsheet runs as a formula (OWASP): ``=1+2`` is written ``'=1+2``."""
    return "'" + cell if cell.startswith(_ESCAPED) else cell


def restore(cell: str) -> str:
    """The value :func:`neutralise` wrote: ``'=1+2`` is ``=1+2``, ``''a`` is ``'a``."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(_ESCAPED) else cell


class TableError(Exception):
    """The file cannot be read as a table at all (nothing of it is imported)."""

    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(message)
        self.error = RowError(line, "file", message)


def file_kind(content_type: str | None) -> tuple[str, str | None] | None:
    """("csv" | "xlsx", charset) of a ``Content-Type``; None for any other type."""
    if not content_type:
        return None
    media, *params = (part.strip() for part in content_type.split(";"))
    charset = None
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"') or None
    media = media.lower()
    if media in CSV_TYPES:
        return "csv", charset
    if media == XLSX_TYPE:
        return "xlsx", None
    return None


def read_table(
    data: bytes, kind: str, charset: str | None = None, *, max_rows: int = DEFAULT_MAX_ROWS
) -> Table:
    if not data.strip():
        raise TableError(None, "the file is empty")
    table = read_csv(data, charset, max_rows) if kind == "csv" else read_xlsx(data, max_rows)
    if not any(cell.strip() for cell in table.header):
        raise TableError(1, "line 1 must be the header (the column names)")
    return table


def _check_size(line: int, count: int, cells: tuple[str, ...], max_rows: int) -> None:
    """``count`` rows read so far after the header, ``cells`` the row at ``line``."""
    if count > max_rows:
        raise TableError(line, f"the file has more than {max_rows:,} rows after the header")
    if len(cells) > MAX_COLUMNS and any(cells[MAX_COLUMNS:]):
        raise TableError(line, f"line {line} has more than {MAX_COLUMNS} cells")


def read_csv(data: bytes, charset: str | None = None, max_rows: int = DEFAULT_MAX_ROWS) -> Table:
    text = _decode(data, charset)
    first = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=first.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    rows: list[SourceRow] = []
    header: tuple[str, ...] | None = None
    line = 1
    try:
        for count, record in enumerate(reader):
            cells = tuple(record)
            _check_size(line, count, cells, max_rows)
            if header is None:
                header = cells
            elif "".join(record).strip():
                rows.append(SourceRow(line, tuple(restore(cell) for cell in cells)))
            line = reader.line_num + 1
    except csv.Error as exc:
        raise TableError(line, f"line {line}: not CSV ({exc})") from None
    return Table(header or (), rows)


def _decode(data: bytes, charset: str | None) -> str:
    encoding = "utf-8-sig"
    if charset is not None:
        try:
            encoding = codecs.lookup(charset).name
        except LookupError:
            raise TableError(None, f"unknown charset {charset!r}") from None
        if encoding == "utf-8":
            encoding = "utf-8-sig"
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise TableError(
            line,
            f"line {line} is not {encoding.removesuffix('-sig').upper()} text: save the file"
            " as CSV UTF-8, or name its charset (Content-Type: text/csv; charset=...)",
        ) from None


def read_xlsx(data: bytes, max_rows: int = DEFAULT_MAX_ROWS) -> Table:
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # zipfile, XML and openpyxl errors: all mean "not a workbook"
        raise TableError(None, f"not an XLSX workbook ({type(exc).__name__})") from None
    try:
        if not book.worksheets:
            raise TableError(None, "the workbook has no sheet")
        sheet = book.worksheets[0]
        if hasattr(sheet, "reset_dimensions"):
            sheet.reset_dimensions()  # read to the end, without a first pass to size the sheet
        header: tuple[str, ...] | None = None
        rows: list[SourceRow] = []
        for line, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            cells = tuple(_cell_text(v) for v in values)
            _check_size(line, line - 1, cells, max_rows)
            if header is None:
                header = cells
            elif any(cells):
                rows.append(SourceRow(line, cells))
        return Table(header or (), rows)
    except TableError:
        raise
    except Exception as exc:
        raise TableError(None, f"not an XLSX workbook ({type(exc).__name__})") from None
    finally:
        book.close()


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value).strip()


def write_csv(header: Sequence[str], rows: Iterable[Sequence[str]]) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([neutralise(cell) for cell in row] for row in rows)
    return out.getvalue().encode("utf-8")


def _xlsx_value(sheet: Any, value: str) -> str | Cell | None:
    """Text as text (a value starting with ``=`` is never a formula); empty as no cell."""
    if not value:
        return None
    if not value.startswith("="):
        return value
    cell = WriteOnlyCell(sheet, value=value)
    cell.data_type = "s"
    return cell


def write_xlsx(header: Sequence[str], rows: Iterable[Sequence[str]], title: str) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title[:31] or "members")
    for values in (header, *rows):
        sheet.append([_xlsx_value(sheet, v) for v in values])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
