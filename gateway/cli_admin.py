"""CLI: ``orgs create`` (bootstrap an organisation and its Owner's first API token).

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
from gateway.members.errors import ServiceError
from gateway.members.service import AdminContext, MemberService
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


async def run(args: argparse.Namespace, db: Database, settings: Settings) -> int:
    ctx = AdminContext(db, system_clock, settings.admin)
    try:
        return await _orgs(args, MemberService(ctx))
    except ServiceError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1


async def _orgs(args: argparse.Namespace, service: MemberService) -> int:
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
