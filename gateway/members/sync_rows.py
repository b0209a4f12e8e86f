"""Member files (CSV, XLSX): the columns, the header check and each row's values (pure).

One row per member; the header names the columns, in any order, case and
spacing ignored (``First name`` is ``first_name``):

==============  ========  ===================================================================
column          required  value
==============  ========  ===================================================================
identifier                the member's key in the organisation (up to 200 characters),
                          unique, compared without case; empty: ``firstname.lastname``
                          (lowercase, accents removed, other non-letters become ``-``)
first_name      yes       (a new member needs an identifier, or a first or last name)
last_name       yes
email           yes       an email address, unique in the organisation (case ignored)
phone                     digits, spaces and ``+ ( ) - . /``
role                      Owner, Administrator, Manager or User (case ignored);
                          empty: User for a new member, unchanged for a member
status                    Active, Inactive or Pending; empty: Active for a new member,
                          unchanged for a member
groups                    group names separated by ``;`` (made when missing)
tokens                    badge values (RFID idTag / idToken, up to 36 characters)
                          separated by ``;``
valid_until               ISO 8601 date-time, or a date: valid through that day in the
                          organisation's time zone
==============  ========  ===================================================================

A column absent from the file leaves that field of every member as it is; a
column present is synchronised, and an empty cell clears the field (phone,
groups, tokens, valid_until), except identifier, role and status (above).
Line numbers are the file's physical lines (CSV) or sheet rows (XLSX); the
header is line 1.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from gateway.members.bounds import day_or_instant
from gateway.members.inputs import email_address
from gateway.members.roles import Role
from gateway.store.members import token_key
from gateway.timeutil import parse_ocpp_datetime, to_text

COLUMNS = (
    "identifier", "first_name", "last_name", "email", "phone", "role", "status", "groups",
    "tokens", "valid_until",
)  # fmt: skip
REQUIRED = ("first_name", "last_name", "email")
SEPARATOR = ";"
STATUSES = ("Active", "Inactive", "Pending")
MAX_TEXT = 100
MAX_TOKEN = 36  # OCPP 2.0.1 IdTokenType.idToken (identifierString[36]); 1.6 idTag is 20
_ROLES = {role.value.lower(): role for role in Role}
_STATUSES = {status.lower(): status for status in STATUSES}
_PHONE = re.compile(r"^\+?[0-9 ().\-/]{3,40}$")  # as gateway.members.inputs
_NOT_SLUG = re.compile(r"[\W_]+")  # letters and digits of any script stay
_LIMITS = (("identifier", 200), ("first_name", MAX_TEXT), ("last_name", MAX_TEXT),
           ("email", 254), ("phone", 40))  # fmt: skip


@dataclass(frozen=True, slots=True)
class RowError:
    """One reason a row (or the file) is refused; ``line`` None: the whole file."""

    line: int | None
    field: str | None
    message: str

    def as_dict(self) -> dict[str, object]:
        return {"line": self.line, "field": self.field, "message": self.message}


@dataclass(frozen=True, slots=True)
class SourceRow:
    line: int
    cells: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Table:
    """A file's header and its non-blank data rows, each with its line number."""

    header: tuple[str, ...]
    rows: list[SourceRow]


@dataclass(frozen=True, slots=True)
class MemberRow:
    """One row's values, checked on their own (matching members comes later).

    ``given`` holds the columns the file has; a field whose column is absent
    is None here and left alone. ``identifier`` is as written (None: empty
    cell), ``default_identifier`` the ``first.last`` one.
    """

    line: int
    given: frozenset[str]
    identifier: str | None
    default_identifier: str
    first_name: str
    last_name: str
    email: str
    phone: str | None
    role: Role | None
    status: str | None
    groups: tuple[str, ...] | None
    tokens: tuple[str, ...] | None
    valid_until: str | None
    errors: tuple[RowError, ...]
    key: str  # the identifier the row is known by (given, else the default), lowercase
    email_key: str  # the email, lowercase


def header_name(text: str) -> str:
    return re.sub(r"[\s-]+", "_", text.strip().lower())


@dataclass(frozen=True, slots=True)
class Header:
    """The file's columns, normalised (an unnamed trailing column is ``""``)."""

    names: tuple[str, ...]
    given: frozenset[str]


def check_header(header: Sequence[str]) -> tuple[Header, list[RowError]]:
    """The columns and what is wrong with them (all on line 1)."""
    names = [header_name(h) for h in header]
    errors = []
    seen: set[str] = set()
    for position, name in enumerate(names, start=1):
        if not name:
            if position == len(names):
                continue  # a trailing separator
            errors.append(RowError(1, None, f"column {position} of the header has no name"))
        elif name not in COLUMNS:
            known = ", ".join(COLUMNS)
            errors.append(RowError(1, name, f"unknown column {name!r} (the columns: {known})"))
        elif name in seen:
            errors.append(RowError(1, name, f"column {name!r} appears twice"))
        seen.add(name)
    for name in REQUIRED:
        if name not in seen:
            errors.append(RowError(1, name, f"the required column {name!r} is missing"))
    return Header(tuple(names), frozenset(names) - {""}), errors


def slug(text: str) -> str:
    """``Zoë-Ann O'Brien`` → ``zoe-ann-o-brien``: accents removed, lowercase, ``-`` between
    words (``Ørsted`` → ``ørsted``: letters without a decomposition stay)."""
    if not text.isascii():
        decomposed = unicodedata.normalize("NFKD", text)
        text = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _NOT_SLUG.sub("-", text.casefold()).strip("-")


def default_identifier(first_name: str, last_name: str) -> str:
    first, last = slug(first_name), slug(last_name)
    return f"{first}.{last}" if first and last else first or last


def is_email(text: str) -> bool:
    """The rule of every other input (`inputs.email_address`)."""
    try:
        email_address(text)
    except ValueError:
        return False
    return True


def split_list(text: str) -> list[str]:
    return [part for part in map(str.strip, text.split(SEPARATOR)) if part]


def parse_row(line: int, header: Header, cells: Sequence[str], timezone: ZoneInfo) -> MemberRow:
    """A data row's values, each checked on its own (the errors are in the row)."""
    names = header.names
    values = dict(zip(names, map(str.strip, cells), strict=False))
    values.pop("", None)
    errors: list[RowError] = []

    def error(column: str | None, message: str) -> None:
        errors.append(RowError(line, column, message))

    if len(cells) > len(names) and any(c.strip() for c in cells[len(names) :]):
        error(None, f"the row has {len(cells)} cells, the header {len(names)}")
    for column, limit in _LIMITS:
        if len(values.get(column, "")) > limit:
            error(column, f"{column} is longer than {limit} characters")
    first_name, last_name = values.get("first_name", ""), values.get("last_name", "")
    identifier = values.get("identifier") or None
    default = default_identifier(first_name, last_name)
    email = values.get("email", "")
    if not email:
        error("email", "email is required")
    elif not is_email(email):
        error("email", f"{email!r} is not an email address")
    phone = values.get("phone") or None
    if phone is not None and not _PHONE.match(phone):
        error("phone", f"{phone!r} is not a phone number")
    role = _choice(values, "role", _ROLES, error)
    status = _choice(values, "status", _STATUSES, error)
    groups = tokens = valid_until = None
    if "groups" in values:
        groups = _groups(values["groups"], error)
    if "tokens" in values:
        tokens = _tokens(values["tokens"], error)
    if values.get("valid_until"):
        valid_until = _valid_until(values["valid_until"], timezone, error)
    if "\x00" in "".join(values.values()):
        error(None, "the row contains a NUL character")
    return MemberRow(
        line, header.given, identifier, default, first_name, last_name, email, phone,
        Role(role) if role else None, status, groups, tokens, valid_until, tuple(errors),
        (identifier or default).lower(), email.lower(),
    )  # fmt: skip


Error = Callable[[str | None, str], None]


def _choice(
    values: Mapping[str, str], column: str, choices: Mapping[str, str], error: Error
) -> str | None:
    value = values.get(column, "")
    if not value:
        return None
    found = choices.get(value.lower())
    if found is None:
        error(column, f"unknown {column} {value!r} (one of {', '.join(choices.values())})")
    return found


def _groups(text: str, error: Error) -> tuple[str, ...]:
    if SEPARATOR not in text and len(text) <= MAX_TEXT:
        return (text,) if text else ()
    names: dict[str, str] = {}
    for name in split_list(text):
        if len(name) > MAX_TEXT:
            error("groups", f"group name {name[:20]!r}... is longer than {MAX_TEXT}")
        names.setdefault(name.lower(), name)
    return tuple(sorted(names.values(), key=str.lower))


def _tokens(text: str, error: Error) -> tuple[str, ...]:
    if SEPARATOR not in text and len(text) <= MAX_TOKEN:
        return (text,) if text else ()
    tokens: dict[str, str] = {}
    for value in split_list(text):
        if len(value) > MAX_TOKEN:
            error("tokens", f"token {value!r} is longer than {MAX_TOKEN} characters")
        tokens.setdefault(token_key(value), value)
    return tuple(sorted(tokens.values(), key=token_key))


def _valid_until(text: str, timezone: ZoneInfo, error: Error) -> str | None:
    try:
        day_or_instant(text)
    except ValueError as exc:
        error("valid_until", f"valid_until {text!r}: {exc}")
        return None
    if len(text) == 10:  # a date: valid through that day, in the organisation's time zone
        day = date.fromisoformat(text)
        return to_text(datetime.combine(day + timedelta(days=1), time(), timezone))
    return to_text(parse_ocpp_datetime(text))
