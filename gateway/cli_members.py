"""CLI: member operations (list, add, invite, edit, deactivate, reactivate, bulk-deactivate,
delete, resend-invitation) and the audit log, for scripting.

Every action acts as the command line in the organisation named with
``--organisation`` (default: the only one; see :mod:`gateway.cli_organisation`): every
right there except granting Owner, audited with the actor ``cli``. A member is named by id, email or
identifier. The same services as the admin API make the same checks; a
running gateway sees the change within a second.

Registered by :mod:`gateway.cli`: top-level commands in ``COMMANDS``, actions of the
``members`` command in ``ACTIONS``; both dispatched to :func:`run`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from gateway import cli_organisation
from gateway.config import Settings
from gateway.members.editing import MemberEditor
from gateway.members.errors import NotFound, ServiceError
from gateway.members.inputs import BulkDeactivation, MemberUpdate, NewMember
from gateway.members.invitations import InvitationService
from gateway.members.lifecycle import MemberLifecycle
from gateway.members.service import Actor, AdminContext, MemberService
from gateway.store.admin import MemberFilter
from gateway.store.database import Database
from gateway.timeutil import parse_ocpp_datetime, system_clock

COMMANDS: tuple[str, ...] = ("audit",)
ACTIONS: tuple[str, ...] = (
    "list",
    "add",
    "invite",
    "edit",
    "deactivate",
    "reactivate",
    "activate",
    "bulk-deactivate",
    "delete",
    "resend-invitation",
)
_UNSPECIFIED_HOSTS = ("0.0.0.0", "::", "")


class CommandError(Exception):
    """A user error: printed on stderr, exit status 1."""


def _organisation(parser: argparse.ArgumentParser) -> None:
    cli_organisation.add_option(parser)


def _member_fields(p: argparse.ArgumentParser) -> None:
    p.add_argument("--email", required=True)
    p.add_argument("--first-name", default="")
    p.add_argument("--last-name", default="")
    p.add_argument("--phone")
    p.add_argument("--identifier", help="the CSV sync key")
    p.add_argument("--role", default="User", help="Administrator, Manager or User")
    p.add_argument("--extra-role", action="append", default=[], help="repeatable")
    p.add_argument("--group", action="append", default=[], help="repeatable; created on demand")
    p.add_argument("--badge", action="append", default=[], help="a token value; repeatable")
    p.add_argument(
        "--permission", action="append", default=[], help="NAME=on|off override; repeatable"
    )
    p.add_argument("--policy", help="the member's policy: JSON text, or @FILE")
    p.add_argument("--valid-until", help="ISO 8601 date-time with offset")
    _organisation(p)


def add_member_actions(members: Any) -> None:
    """Actions of ``ocpp-gateway members``."""
    ls = members.add_parser("list", help="list members (filters, search, pages)")
    ls.add_argument("--status", choices=["Pending", "Active", "Inactive"])
    ls.add_argument("--role")
    ls.add_argument("--group")
    ls.add_argument("--search", help="in name, email, identifier")
    ls.add_argument("--page", type=int, default=1)
    ls.add_argument("--per-page", type=int, default=50)
    ls.add_argument("--json", action="store_true", help="one JSON document")
    _organisation(ls)

    add = members.add_parser("add", help="add a member directly, without an invitation")
    _member_fields(add)
    add.add_argument("--status", choices=["Active", "Pending", "Inactive"], default="Active")

    invite = members.add_parser(
        "invite", help="invite by email: Pending until the activation link is accepted"
    )
    _member_fields(invite)

    edit = members.add_parser("edit", help="change a member; only the options given change")
    edit.add_argument("member", help="id, email or identifier")
    edit.add_argument("--first-name")
    edit.add_argument("--last-name")
    edit.add_argument("--email", help="'none' clears it")
    edit.add_argument("--phone", help="'none' clears it")
    edit.add_argument("--identifier", help="'none' clears it")
    edit.add_argument("--role")
    edit.add_argument("--extra-role", action="append", help="repeatable; replaces the extra roles")
    edit.add_argument("--no-extra-roles", action="store_true")
    edit.add_argument(
        "--permission", action="append", default=[], help="NAME=on|off|unset; repeatable"
    )
    edit.add_argument("--group", action="append", help="repeatable; replaces the groups")
    edit.add_argument("--no-groups", action="store_true")
    edit.add_argument("--add-badge", action="append", default=[])
    edit.add_argument("--remove-badge", action="append", default=[])
    edit.add_argument("--policy", help="JSON text, or @FILE")
    edit.add_argument("--clear-policy", action="store_true")
    edit.add_argument("--valid-until", help="ISO 8601 date-time with offset; 'none' clears it")
    _organisation(edit)

    for name, text in (
        ("deactivate", "access lost at once on every charger; data kept"),
        ("reactivate", "give access back"),
        ("activate", "same as reactivate"),
        ("resend-invitation", "a new activation link for a Pending member"),
    ):
        p = members.add_parser(name, help=text)
        p.add_argument("member", help="id, email or identifier")
        _organisation(p)

    bulk = members.add_parser("bulk-deactivate", help="deactivate a selection or a whole group")
    bulk.add_argument("members", nargs="*", help="ids, emails or identifiers")
    bulk.add_argument("--group", help="every member of this group")
    _organisation(bulk)

    delete = members.add_parser(
        "delete", help="delete for good: personal data removed, transactions kept anonymised"
    )
    delete.add_argument("member", help="id, email or identifier")
    delete.add_argument("--yes", action="store_true", help="required: deletion cannot be undone")
    _organisation(delete)


def add_parsers(sub: Any) -> None:
    """Top-level commands."""
    audit = sub.add_parser("audit", help="the audit log: who did what, when, before and after")
    audit.add_argument("--member", help="entries about this member (id, email or identifier)")
    audit.add_argument("--actor", help="entries made by this member")
    audit.add_argument("--since", help="ISO 8601, inclusive")
    audit.add_argument("--until", help="ISO 8601, exclusive")
    audit.add_argument("--page", type=int, default=1)
    audit.add_argument("--per-page", type=int, default=50)
    audit.add_argument("--json", action="store_true")
    _organisation(audit)


async def run(args: argparse.Namespace, db: Database, settings: Settings) -> int:
    ctx = AdminContext(db, system_clock, settings.admin)
    try:
        if args.command == "audit":
            return await _audit(args, ctx)
        return await _members(args, ctx, settings)
    except (ServiceError, CommandError) as exc:
        print(f"error: {getattr(exc, 'message', exc)}", file=sys.stderr)
        return 1
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'input'}: {e['msg']}" for e in exc.errors()
        )
        print(f"error: {problems}", file=sys.stderr)
        return 1


async def _actor(args: argparse.Namespace, ctx: AdminContext) -> Actor:
    return Actor.command_line(await cli_organisation.resolve(ctx.db, args.organisation))


async def member_id(ctx: AdminContext, actor: Actor, ref: str) -> int:
    found = await ctx.store.member_id_by_ref(actor.organisation_id, ref)
    if found is None:
        raise NotFound(f"no member {ref}")
    return found


def base_url(settings: Settings) -> str:
    """The activation link's base from the command line: the configured listening address."""
    host = settings.http.host
    host = "localhost" if host in _UNSPECIFIED_HOSTS else host
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{settings.http.port}"


async def _members(args: argparse.Namespace, ctx: AdminContext, settings: Settings) -> int:
    action = args.action
    actor = await _actor(args, ctx)
    if action == "list":
        return await _list(args, ctx, actor)
    if action == "add":
        added = await MemberEditor(ctx).create(actor, _new_member(args), args.status)
        print(f"member {added['id']} added ({added['email']}, {added['status']})")
        return 0
    if action == "invite":
        answer = await InvitationService(ctx).invite(actor, _new_member(args), base_url(settings))
        return _invited(answer)
    if action == "bulk-deactivate":
        return await _bulk(args, ctx, actor)
    target = await member_id(ctx, actor, args.member)
    if action in ("deactivate", "reactivate", "activate"):
        status = "Inactive" if action == "deactivate" else "Active"
        await MemberService(ctx).set_status(actor, target, status)
        print(f"member {args.member} is {status}")
        return 0
    if action == "resend-invitation":
        answer = await InvitationService(ctx).resend(actor, target, base_url(settings))
        return _invited(answer)
    if action == "delete":
        if not args.yes:
            raise CommandError("deletion cannot be undone: add --yes")
        deleted = await MemberLifecycle(ctx).delete(actor, target)
        print(
            f"member {target} deleted; {deleted['transactions_kept']} transactions kept"
            " without personal data"
        )
        return 0
    edited = await MemberEditor(ctx).edit(actor, target, await _update(args, ctx, actor, target))
    print(json.dumps(edited, indent=2))
    return 0


def _invited(answer: dict[str, Any]) -> int:
    member, invitation, delivery = answer["member"], answer["invitation"], answer["delivery"]
    print(f"member {member['id']} invited ({member['email']}, Pending)")
    print(f"the invitation expires at {invitation['expires_at']}")
    if delivery["sent"]:
        print(f"mailed to {member['email']}")
    elif delivery["error"]:
        print(f"the mail was NOT sent: {delivery['error']}", file=sys.stderr)
        print("re-send later with: ocpp-gateway members resend-invitation", member["id"])
    else:
        print(f"activation link (no SMTP configured, pass it on): {invitation['link']}")
    return 0


async def _list(args: argparse.Namespace, ctx: AdminContext, actor: Actor) -> int:
    where = MemberFilter(status=args.status, role=args.role, group=args.group, search=args.search)
    page = await MemberService(ctx).list_members(actor, where, args.page, args.per_page)
    if args.json:
        print(json.dumps(page, indent=2))
        return 0
    columns = ("id", "email", "first_name", "last_name", "role", "status", "groups", "tokens")
    print("\t".join(columns))
    for m in page["items"]:
        cells = {**m, "groups": ",".join(m["groups"]),
                 "tokens": ",".join(t["value"] for t in m["tokens"])}  # fmt: skip
        print("\t".join("" if cells[c] is None else str(cells[c]) for c in columns))
    shown = len(page["items"])
    print(f"# {shown} of {page['total']} (page {page['page']})", file=sys.stderr)
    return 0


async def _bulk(args: argparse.Namespace, ctx: AdminContext, actor: Actor) -> int:
    if (args.group is not None) == bool(args.members):
        raise CommandError("give either members (ids, emails, identifiers) or --group")
    ids: list[int] | None = None
    unknown: list[str] = []
    if args.group is None:
        ids = []
        for ref in args.members:
            found = await ctx.store.member_id_by_ref(actor.organisation_id, ref)
            if found is None:
                unknown.append(ref)
            else:
                ids.append(found)
    selection = BulkDeactivation(member_ids=ids, group=args.group)
    result = await MemberLifecycle(ctx).bulk_deactivate(actor, selection)
    for ref in unknown:
        print(f"refused\t{ref}\tno member {ref}")
    for member in result["deactivated"]:
        print(f"deactivated\t{member}")
    for member in result["unchanged"]:
        print(f"unchanged\t{member}\talready Inactive")
    for refusal in result["refused"]:
        print(f"refused\t{refusal['member_id']}\t{refusal['detail']}")
    return 0 if not (result["refused"] or unknown) else 3


def _new_member(args: argparse.Namespace) -> NewMember:
    fields: dict[str, Any] = {
        "email": args.email,
        "first_name": args.first_name,
        "last_name": args.last_name,
        "phone": args.phone,
        "identifier": args.identifier,
        "role": args.role,
        "extra_roles": args.extra_role,
        "groups": args.group,
        "tokens": [{"value": v} for v in args.badge],
        "permissions": _permissions({}, args.permission),
        "policy": _policy(args.policy),
        "valid_until": args.valid_until,
    }
    return NewMember.model_validate(fields)


async def _update(
    args: argparse.Namespace, ctx: AdminContext, actor: Actor, target: int
) -> MemberUpdate:
    fields: dict[str, Any] = {}
    for name in ("first_name", "last_name", "role"):
        if getattr(args, name) is not None:
            fields[name] = getattr(args, name)
    for name in ("email", "phone", "identifier", "valid_until"):
        if getattr(args, name) is not None:
            fields[name] = _none(getattr(args, name))
    if args.extra_role is not None or args.no_extra_roles:
        fields["extra_roles"] = args.extra_role or []
    if args.group is not None or args.no_groups:
        fields["groups"] = args.group or []
    if args.permission:
        member = await ctx.member_in_org(actor, target)
        fields["permissions"] = _permissions(member["permissions"], args.permission)
    if args.add_badge or args.remove_badge:
        fields["tokens"] = {"add": [{"value": v} for v in args.add_badge],
                            "remove": args.remove_badge}  # fmt: skip
    if args.clear_policy:
        fields["policy"] = None
    elif args.policy is not None:
        fields["policy"] = _policy(args.policy)
    return MemberUpdate.model_validate(fields)


def _none(text: str) -> str | None:
    """``none`` on the command line clears a field (JSON null in the API)."""
    return None if text.lower() == "none" else text


def _permissions(current: dict[str, bool], changes: list[str]) -> dict[str, bool]:
    overrides = dict(current)
    for change in changes:
        name, _, value = change.partition("=")
        if value not in ("on", "off", "unset"):
            raise CommandError(f"--permission {change}: write NAME=on, NAME=off or NAME=unset")
        if value == "unset":
            overrides.pop(name, None)
        else:
            overrides[name] = value == "on"
    return overrides


def _policy(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        raw = Path(text[1:]).read_text(encoding="utf-8") if text.startswith("@") else text
        body = json.loads(raw)
    except (OSError, ValueError) as exc:
        raise CommandError(f"--policy: {exc}") from None
    if not isinstance(body, dict):
        raise CommandError("--policy: a policy is a JSON object")
    return body


async def _audit(args: argparse.Namespace, ctx: AdminContext) -> int:
    actor = await _actor(args, ctx)
    about = await member_id(ctx, actor, args.member) if args.member else None
    by = await member_id(ctx, actor, args.actor) if args.actor else None
    try:
        since = parse_ocpp_datetime(args.since) if args.since else None
        until = parse_ocpp_datetime(args.until) if args.until else None
    except ValueError as exc:
        raise CommandError(f"--since/--until: {exc}") from None
    page = await MemberService(ctx).audit_entries(
        actor,
        member_id=about,
        actor_id=by,
        since=since,
        until=until,
        page=args.page,
        per_page=args.per_page,
    )
    if args.json:
        print(json.dumps(page, indent=2))
        return 0
    for e in page["items"]:
        target = f"{e['target_kind']}:{e['target_id']}" if e["target_id"] else e["target_kind"]
        print(f"{e['at']}\t{e['actor']}\t{e['action']}\t{target}")
        print(f"\tbefore: {json.dumps(e['before'], sort_keys=True)}")
        print(f"\tafter:  {json.dumps(e['after'], sort_keys=True)}")
    print(f"# {len(page['items'])} of {page['total']} (page {page['page']})", file=sys.stderr)
    return 0
