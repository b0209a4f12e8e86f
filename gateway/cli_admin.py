"""CLI: ``orgs create`` (bootstrap an organisation and its Owner's first API token) and
``orgs transfer-ownership`` (the Owner becomes Administrator, another member Owner).

Member operations in the CLI act as the command line (every right in the
named organisation) through the same services as the admin API, and are
audited with the actor ``cli``. A running gateway sees their changes within
a second.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from gateway.config import Settings
from gateway.members.errors import NotFound, ServiceError
from gateway.members.lifecycle import MemberLifecycle
from gateway.members.service import Actor, AdminContext, MemberService
from gateway.store.database import Database
from gateway.timeutil import system_clock

COMMANDS = ("orgs",)
ACTIONS: tuple[str, ...] = ()


def add_member_actions(members: Any) -> None:
    """No actions of ``ocpp-gateway members`` here."""


def add_parsers(sub: Any) -> None:
    orgs = sub.add_parser("orgs", help="organisations and their owners").add_subparsers(
        dest="action", required=True
    )
    create = orgs.add_parser(
        "create", help="create an organisation and its Owner; prints the Owner's first API token"
    )
    create.add_argument("name")
    create.add_argument("--owner-email", required=True)
    create.add_argument("--owner-first-name", default="")
    create.add_argument("--owner-last-name", default="")
    create.add_argument("--timezone", default="UTC")
    create.add_argument("--currency", default="EUR")
    transfer = orgs.add_parser(
        "transfer-ownership",
        help="make an Active member the Owner; the previous Owner becomes Administrator",
    )
    transfer.add_argument("--organisation", required=True, help="the organisation's name")
    transfer.add_argument("--to", required=True, help="the new Owner: id, email or identifier")


async def run(args: argparse.Namespace, db: Database, settings: Settings) -> int:
    ctx = AdminContext(db, system_clock, settings.admin)
    try:
        return await _orgs(args, MemberService(ctx))
    except ServiceError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1


async def _orgs(args: argparse.Namespace, service: MemberService) -> int:
    if args.action == "transfer-ownership":
        return await _transfer(args, service.ctx)
    org_id, member_id, secret = await service.create_organisation(
        args.name,
        args.owner_email,
        first_name=args.owner_first_name,
        last_name=args.owner_last_name,
        timezone=args.timezone,
        currency=args.currency.upper(),
    )
    print(f"organisation {args.name} ({org_id}); owner {args.owner_email} (member {member_id})")
    print(f"API token (shown once): {secret}")
    return 0


async def _transfer(args: argparse.Namespace, ctx: AdminContext) -> int:
    org_id = await ctx.store.organisation_id(args.organisation)
    if org_id is None:
        raise NotFound(f"no organisation {args.organisation}")
    new_owner = await ctx.store.member_id_by_ref(org_id, args.to)
    if new_owner is None:
        raise NotFound(f"no member {args.to} in {args.organisation}")
    result = await MemberLifecycle(ctx).transfer_ownership(Actor.command_line(org_id), new_owner)
    owner, previous = result["owner"], result["previous_owner"]
    print(f"{args.organisation}: member {owner['id']} ({owner['email']}) is the Owner")
    if previous is not None:
        print(f"member {previous['id']} ({previous['email']}) is now an Administrator")
    return 0
