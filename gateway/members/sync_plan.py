"""Member import as a synchronisation: what a file changes (pure; see ``sync_rows``).

Matching a row to a member of the organisation:

- with an identifier written in the row: the member with that identifier,
  else the member with that email;
- without one: the member with that email, else the member whose identifier
  is the row's ``firstname.lastname``.

A row that matches nobody adds a member (Active unless its status says
Inactive; no invitation and no API token: they sign in after an invitation
or an API token made for them). A row that matches updates the fields its
columns give. Members the file does not name are deactivated, except the
Owner, the importing member and members ranked at or above them (reported as
skipped). A bad row still protects the member it names from deactivation.

Refused rows (:class:`RowError`, each with its line): a row's own bad values
(``sync_rows``); an identifier, email, token or member named by two rows; an
email or identifier of another member; a token of another member (unless
that member's own row gives it up); a role the actor may not grant; a change
to a member ranked at or above the actor, or to the actor's own record other
than name, email and phone; ownership or Pending set by a file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from gateway.members.roles import Role, may_act_on, may_grant
from gateway.members.sync_rows import MemberRow, RowError
from gateway.store.members import token_key

Progress = Callable[[str, int, int], None]
SELF_EDITABLE = frozenset({"first_name", "last_name", "email", "phone"})
"""What an import may change of the importing member (as editing yourself may)."""
FIELDS = ("identifier", "first_name", "last_name", "email", "phone", "role", "status",
          "valid_until", "groups", "tokens")  # fmt: skip


@dataclass(slots=True)
class Existing:
    """A member of the organisation as the import compares it (groups, tokens sorted)."""

    id: int
    identifier: str | None
    first_name: str
    last_name: str
    email: str | None
    phone: str | None
    role: str
    extra_roles: tuple[str, ...]
    status: str
    valid_until: str | None
    groups: tuple[str, ...] = ()
    tokens: tuple[str, ...] = ()

    @property
    def roles(self) -> frozenset[Role]:
        return frozenset(Role(r) for r in (self.role, *self.extra_roles) if r in _ROLE_NAMES)

    def value(self, name: str) -> Any:
        return getattr(self, name)


_ROLE_NAMES = {r.value for r in Role}


@dataclass(slots=True)
class OrgState:
    """What the import needs to know of the organisation, read in one go."""

    organisation_id: int
    timezone: str
    members: list[Existing]
    groups: dict[str, str]  # lowercase name -> name
    token_owners: dict[str, int]  # token_key -> member id, for the organisation's tokens
    foreign_tokens: frozenset[str]  # token keys of the file held in other organisations
    reserved_identifiers: frozenset[str] = frozenset()  # of deleted members, lowercase
    reserved_emails: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class ActorView:
    """Who imports: member id (None: the command line) and roles."""

    member_id: int | None
    roles: frozenset[Role]
    grantable: frozenset[Role] = field(init=False)

    def __post_init__(self) -> None:
        grantable = frozenset(r for r in Role if may_grant(self.roles, r))
        object.__setattr__(self, "grantable", grantable)

    def may_grant(self, role: Role) -> bool:
        return role in self.grantable

    def may_change(self, member: Existing) -> bool:
        if member.id == self.member_id:
            return False
        return self.member_id is None or may_act_on(self.roles, member.roles)


@dataclass(slots=True)
class Addition:
    line: int
    values: dict[str, Any]  # every field of FIELDS
    id: int | None = None  # once written


@dataclass(slots=True)
class Update:
    line: int
    member: Existing
    changes: dict[str, tuple[Any, Any]]  # field -> (before, after)


@dataclass(slots=True)
class Plan:
    rows: int
    additions: list[Addition] = field(default_factory=list)
    updates: list[Update] = field(default_factory=list)
    unchanged: int = 0
    deactivations: list[Existing] = field(default_factory=list)
    skipped: list[tuple[Existing, str]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    @property
    def bad_lines(self) -> int:
        return len({e.line for e in self.errors})


@dataclass(slots=True)
class _Candidate:
    row: MemberRow
    target: Existing | None
    errors: list[RowError]
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)

    def error(self, column: str | None, message: str) -> None:
        self.errors.append(RowError(self.row.line, column, message))


def plan_import(
    rows: list[MemberRow], state: OrgState, actor: ActorView, progress: Progress | None = None
) -> Plan:
    """What importing ``rows`` into the organisation ``state`` describes would change."""
    by_identifier = {m.identifier.lower(): m for m in state.members if m.identifier}
    by_email = {m.email.lower(): m for m in state.members if m.email}
    candidates: list[_Candidate] = []
    protected: set[int] = set()
    seen: dict[tuple[str, str], int] = {}
    for index, row in enumerate(rows):
        target = _match(row, by_identifier, by_email)
        for key in (row.key, row.email_key):  # a bad row protects whom it names
            for known in (by_identifier.get(key), by_email.get(key)):
                if known is not None:
                    protected.add(known.id)
        candidate = _Candidate(row, target, list(row.errors))
        _check_unique(candidate, seen, by_identifier, by_email, state)
        if not row.errors:
            _compare(candidate, state, actor)
        candidates.append(candidate)
        if progress is not None and index % 5000 == 4999:
            progress("checking", index + 1, len(rows))
    _check_tokens(candidates, state)
    plan = Plan(rows=len(rows))
    for candidate in candidates:
        if candidate.errors:
            plan.errors.extend(candidate.errors)
        elif candidate.target is None:
            plan.additions.append(Addition(candidate.row.line, candidate.values))
        elif candidate.changes:
            plan.updates.append(Update(candidate.row.line, candidate.target, candidate.changes))
        else:
            plan.unchanged += 1
    named = protected | {c.target.id for c in candidates if c.target is not None}
    for member in state.members:
        if member.id in named or member.status == "Inactive":
            continue
        reason = _keep_reason(member, actor)
        if reason is None:
            plan.deactivations.append(member)
        else:
            plan.skipped.append((member, reason))
    if progress is not None:
        progress("checking", len(rows), len(rows))
    return plan


def _match(
    row: MemberRow, by_identifier: dict[str, Existing], by_email: dict[str, Existing]
) -> Existing | None:
    if row.identifier is not None:
        return by_identifier.get(row.key) or by_email.get(row.email_key)
    return by_email.get(row.email_key) or by_identifier.get(row.key)


def _check_unique(
    candidate: _Candidate,
    seen: dict[tuple[str, str], int],
    by_identifier: dict[str, Existing],
    by_email: dict[str, Existing],
    state: OrgState,
) -> None:
    """Nothing named twice in the file, no other member's identifier or email."""
    row, target = candidate.row, candidate.target
    identifier = row.key if target is None or row.identifier else (target.identifier or "")
    email = row.email_key
    checks = [("identifier", identifier.lower()), ("email", email)]
    if target is not None:
        checks.append(("member", str(target.id)))
    for kind, key in checks:
        if not key:
            continue
        first = seen.setdefault((kind, key), row.line)
        if first != row.line:
            what = "member" if kind == "member" else f"{kind} {key!r}"
            hint = (
                " (give each an identifier)" if kind == "identifier" and not row.identifier else ""
            )
            column = "identifier" if kind == "member" else kind
            candidate.error(column, f"the {what} is also on line {first}{hint}")
    if email and email in by_email and by_email[email] is not target:
        other = by_email[email]
        candidate.error("email", f"email {row.email!r} belongs to member {_name(other)}")
    if row.identifier and row.key in by_identifier and by_identifier[row.key] is not target:
        candidate.error("identifier", f"identifier {row.identifier!r} belongs to another member")
    if target is None or row.identifier:
        if identifier in state.reserved_identifiers:
            candidate.error("identifier", f"identifier {identifier!r} was a deleted member's")
    if email in state.reserved_emails and target is None:
        candidate.error("email", f"email {row.email!r} was a deleted member's")


def _compare(candidate: _Candidate, state: OrgState, actor: ActorView) -> None:
    """The values to write (a new member) or the changes (a member), with the role rules."""
    row, target = candidate.row, candidate.target
    if target is None:
        role = row.role or Role.USER
        status = row.status or "Active"
        if role is Role.OWNER:
            candidate.error("role", "the Owner role is transferred, never imported")
        elif not actor.may_grant(role):
            candidate.error(
                "role", f"you may not grant the role {role} (only roles at or below yours)"
            )
        if status == "Pending":
            candidate.error("status", "a new member is Active or Inactive (invite to make Pending)")
        if not row.key:
            candidate.error(
                "identifier", "a new member needs an identifier, or a first or last name"
            )
        candidate.values = {
            "identifier": row.identifier or row.default_identifier,
            "first_name": row.first_name,
            "last_name": row.last_name,
            "email": row.email,
            "phone": row.phone,
            "role": str(role),
            "status": status,
            "valid_until": row.valid_until,
            "groups": _group_names(row.groups or (), state),
            "tokens": row.tokens or (),
        }
        return
    wanted: dict[str, Any] = {"first_name": row.first_name, "last_name": row.last_name}
    wanted["email"] = row.email
    if row.identifier:
        wanted["identifier"] = row.identifier
    for name in ("phone", "valid_until"):
        if name in row.given:
            wanted[name] = getattr(row, name)
    if row.role is not None:
        wanted["role"] = str(row.role)
    if row.status is not None:
        wanted["status"] = row.status
    if row.groups is not None:
        wanted["groups"] = _group_names(row.groups, state)
    changes = {}
    for name, after in wanted.items():
        before = target.value(name)
        if before != after:
            changes[name] = (before, after)
    if row.tokens is not None:
        have = {token_key(t) for t in target.tokens}
        listed = {token_key(t) for t in row.tokens}
        if have != listed:
            kept = tuple(t for t in target.tokens if token_key(t) in listed)
            added = tuple(t for t in row.tokens if token_key(t) not in have)
            changes["tokens"] = (target.tokens, tuple(sorted(kept + added, key=token_key)))
    candidate.changes = changes
    if changes:
        _check_change(candidate, target, actor)


def _check_change(candidate: _Candidate, target: Existing, actor: ActorView) -> None:
    changes = candidate.changes
    role = changes.get("role")
    status = changes.get("status")
    if Role.OWNER in target.roles and (role or (status and status[1] != "Active")):
        column = "role" if role else "status"
        candidate.error(column, "the Owner keeps their role and status (ownership is transferred)")
        return
    if target.id == actor.member_id:
        others = [name for name in changes if name not in SELF_EDITABLE]
        if others:
            candidate.error(others[0], f"an import may not change your own {others[0]}")
        return
    if not actor.may_change(target):
        column = next(iter(changes))
        candidate.error(
            column, f"an import may not change a member ranked at or above you ({_name(target)})"
        )
        return
    if role is not None:
        new = Role(role[1])
        if new is Role.OWNER:
            candidate.error("role", "the Owner role is transferred, never imported")
        elif not actor.may_grant(new):
            candidate.error(
                "role", f"you may not grant the role {new} (only roles at or below yours)"
            )
    if status is not None:
        if status[0] == "Pending" and status[1] == "Active":
            candidate.error("status", "a Pending member becomes Active by accepting the invitation")
        elif status[1] == "Pending":
            candidate.error("status", "only an invitation makes a member Pending")


def _check_tokens(candidates: list[_Candidate], state: OrgState) -> None:
    """Each token on one row; another member's token only if that member's row gives it up.

    Repeated until stable: a row refused for a token may be the one that gave
    up another row's token.
    """
    first_line: dict[str, int] = {}
    for candidate in candidates:
        for value in candidate.row.tokens or ():
            line = first_line.setdefault(token_key(value), candidate.row.line)
            if line != candidate.row.line:
                candidate.error("tokens", f"token {value!r} is also on line {line}")
    rows_of: dict[int, _Candidate] = {c.target.id: c for c in candidates if c.target is not None}
    changed = True
    while changed:
        changed = False
        for candidate in candidates:
            if candidate.errors or candidate.row.tokens is None:
                continue
            own = candidate.target.id if candidate.target is not None else None
            for value in candidate.row.tokens:
                reason = _token_refusal(token_key(value), own, state, rows_of)
                if reason is not None:
                    candidate.error("tokens", f"token {value!r} {reason}")
                    changed = True
                    break


def _token_refusal(
    key: str, own: int | None, state: OrgState, rows_of: dict[int, _Candidate]
) -> str | None:
    if key in state.foreign_tokens:
        return "is already in use"
    owner = state.token_owners.get(key)
    if owner is None or owner == own:
        return None
    giver = rows_of.get(owner)
    if giver is not None and not giver.errors and giver.row.tokens is not None:
        if key not in {token_key(t) for t in giver.row.tokens}:
            return None
    name = _name(giver.target) if giver is not None and giver.target is not None else str(owner)
    return f"belongs to member {name}"


def _keep_reason(member: Existing, actor: ActorView) -> str | None:
    """Why a member absent from the file is not deactivated, if they are not."""
    if Role.OWNER in member.roles:
        return "the Owner is never deactivated by an import"
    if member.id == actor.member_id:
        return "you are the importing member"
    if not actor.may_change(member):
        return "ranked at or above you"
    return None


def _group_names(names: Sequence[str], state: OrgState) -> tuple[str, ...]:
    """Existing groups by their stored name (case ignored), new ones as written."""
    groups = state.groups
    found = [groups.get(name.lower(), name) for name in names]
    if len(found) > 1:
        found.sort(key=str.lower)
    return tuple(found)


def _name(member: Existing) -> str:
    return member.identifier or member.email or str(member.id)
