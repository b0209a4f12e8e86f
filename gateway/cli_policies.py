"""``ocpp-gateway`` commands for organisations, sites, groups, usage policies and ``explain``.

Every change is a database write: a running gateway picks it up within a
second (the cache generation moves) and re-checks running sessions.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from gateway import cli_organisation
from gateway.members import network_values
from gateway.members.errors import Invalid
from gateway.members.policy_spec import PolicySpec, minor_units, price_minor_per_kwh
from gateway.policy_cache.loader import load_snapshot, load_usage
from gateway.policy_engine import AuthRequest, Purpose, decide, explain
from gateway.store.database import Database
from gateway.store.members import MemberStore
from gateway.store.policies import PolicyStore
from gateway.timeutil import parse_ocpp_datetime


class CommandError(Exception):
    """A user error: printed on stderr, exit status 1."""


def add_parsers(sub: Any) -> None:
    org = sub.add_parser("organisations", help="organisation settings").add_subparsers(
        dest="action", required=True
    )
    oset = org.add_parser("set", help="create or change an organisation")
    oset.add_argument("name")
    oset.add_argument("--timezone", help="IANA zone for cap periods, e.g. Europe/Paris")
    oset.add_argument("--currency", help="ISO 4217 code, e.g. EUR")
    oset.add_argument("--price-per-kwh", help="in the currency's major unit, e.g. 0.25")
    oset.add_argument("--session-fee", help="per session, e.g. 1.00")
    oset.add_argument(
        "--enforcement",
        choices=["enforce", "observe"],
        help="stop sessions that break a rule, or only log and count them",
    )
    oset.add_argument("--group-token", help="sent to chargers as parentIdTag / groupIdToken")
    oset.add_argument(
        "--token-type-match",
        choices=list(network_values.TOKEN_TYPE_MATCHES),
        help="2.0.1 idTokens match by value (the type a hint, the default) or strictly by both",
    )
    org.add_parser("show").add_argument("name")

    groups = sub.add_parser("groups", help="member groups").add_subparsers(
        dest="action", required=True
    )
    gadd = groups.add_parser("add")
    gadd.add_argument("name")
    cli_organisation.add_option(gadd)
    join = groups.add_parser("join", help="put a member in a group")
    join.add_argument("name")
    join.add_argument("email")
    cli_organisation.add_option(join)

    pol = sub.add_parser("policies", help="usage policies (JSON, see the README)").add_subparsers(
        dest="action", required=True
    )
    for name in ("set", "show", "clear"):
        p = pol.add_parser(name)
        target = p.add_mutually_exclusive_group(required=True)
        target.add_argument("--member", help="a member's email")
        target.add_argument("--group", help="a group's name")
        target.add_argument("--default", action="store_true", help="the organisation's default")
        cli_organisation.add_option(p)
        if name == "set":
            body = p.add_mutually_exclusive_group(required=True)
            body.add_argument("--json", help="the policy as JSON text")
            body.add_argument("--file", type=Path, help="a JSON file")

    exp = sub.add_parser("explain", help="show the decision for a token at a station, rule by rule")
    exp.add_argument("--token", required=True)
    exp.add_argument("--station", required=True)
    exp.add_argument("--at", help="ISO-8601 instant (default: now)")
    exp.add_argument("--token-type", help="2.0.1 idToken type, e.g. ISO14443")


async def run(args: argparse.Namespace, db: Database, now: datetime) -> int:
    try:
        return await _run(args, db, now)
    except CommandError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


async def _run(args: argparse.Namespace, db: Database, now: datetime) -> int:
    policies, members = PolicyStore(db), MemberStore(db)
    if args.command == "explain":
        return await _explain(args, policies, now)
    org_name = args.name if args.command == "organisations" else args.organisation
    if args.command == "organisations" and args.action == "show":
        found = await policies.organisation(org_name)
        if found is None:
            raise CommandError(f"no organisation {org_name}")
        print(json.dumps(found, indent=2))
        return 0
    if args.command == "organisations":  # ``organisations set NAME`` names it: made if new
        org_id = await members.ensure_organisation(org_name, now)
        return await _organisation(args, policies, org_id)
    org_id = await cli_organisation.resolve(db, org_name)
    if args.command == "groups":
        group_id = await policies.ensure_group(org_id, args.name)
        if args.action == "join":
            member_id = await members.find_member(org_id, args.email)
            if member_id is None:
                raise CommandError(f"no member {args.email}")
            await policies.add_to_group(member_id, group_id)
            print(f"{args.email} is in group {args.name}")
        else:
            print(f"group {args.name} ({group_id})")
        return 0
    return await _policy(args, policies, members, org_id, now)


async def _organisation(args: argparse.Namespace, policies: PolicyStore, org_id: int) -> int:
    current = await policies.organisation(args.name)
    assert current is not None
    currency = (args.currency or current["currency"]).upper()
    if args.timezone:
        try:
            network_values.timezone(args.timezone)
        except Invalid as exc:
            raise CommandError(exc.message) from None
    fields: dict[str, Any] = {
        "timezone": args.timezone,
        "currency": currency if args.currency else None,
        "enforcement": args.enforcement,
        "group_token": args.group_token,
        "token_type_match": args.token_type_match,
    }
    if args.price_per_kwh is not None:
        fields["price_per_kwh"] = str(price_minor_per_kwh(_decimal(args.price_per_kwh), currency))
    if args.session_fee is not None:
        fields["session_fee"] = minor_units(_decimal(args.session_fee), currency)
    await policies.update_organisation(org_id, **fields)
    print(json.dumps(await policies.organisation(args.name), indent=2))
    return 0


def _decimal(text: str) -> Decimal:
    try:
        return network_values.amount(text, "amount")
    except Invalid as exc:
        raise CommandError(f"{exc.message}: {text}") from None


async def _policy(
    args: argparse.Namespace,
    policies: PolicyStore,
    members: MemberStore,
    org_id: int,
    now: datetime,
) -> int:
    if args.member:
        scope, scope_id = "member", await members.find_member(org_id, args.member)
        label = args.member
    elif args.group:
        scope, scope_id, label = "group", await policies.group_id(org_id, args.group), args.group
    else:
        scope, scope_id, label = "organisation", org_id, args.organisation
    if scope_id is None:
        raise CommandError(f"no {scope} {label}")
    if args.action == "show":
        print(json.dumps(await policies.get_policy(scope, scope_id), indent=2))
        return 0
    if args.action == "clear":
        found = await policies.delete_policy(scope, scope_id)
        print(f"policy of {scope} {label} removed" if found else "no policy there")
        return 0
    text = args.json if args.json is not None else args.file.read_text(encoding="utf-8")
    try:
        spec = PolicySpec.model_validate_json(text)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(policy)'}: {e['msg']}" for e in exc.errors()
        )
        raise CommandError(f"invalid policy: {problems}") from None
    unknown = spec.site_names() - set(await policies.site_ids(org_id))
    if unknown:
        raise CommandError(f"unknown sites: {', '.join(sorted(unknown))}")
    await policies.set_policy(
        org_id, scope, scope_id, spec.model_dump(mode="json", exclude_none=True), now
    )
    print(f"policy of {scope} {label} set")
    return 0


async def _explain(args: argparse.Namespace, policies: PolicyStore, now: datetime) -> int:
    at = parse_ocpp_datetime(args.at) if args.at else now
    snapshot = await load_snapshot(policies)
    usage = await load_usage(policies, snapshot, now)
    kind = None
    if args.token_type:
        from gateway.policy_engine import TokenType

        kind = TokenType(args.token_type)
    request = AuthRequest(args.token, args.station, Purpose.AUTHORIZE, token_type=kind)
    decision = decide(
        snapshot, request, usage, at, max_cache_lifetime=timedelta(days=1), explain=True
    )
    print(f"token at station {args.station}, {at.isoformat()}")
    print(explain(decision))
    return 0
