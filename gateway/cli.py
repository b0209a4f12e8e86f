"""``ocpp-gateway``: run the gateway, run the demo, register stations, members and tokens.

The only place that reads the environment (through :func:`load_settings`).
"""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import signal
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from gateway import cli_admin, cli_members, cli_organisation, cli_policies, cli_sync
from gateway.app import create_app
from gateway.config import ConfigError, Settings, load_settings
from gateway.logs import configure_logging
from gateway.members import network_values
from gateway.members.errors import Invalid
from gateway.security.passwords import hash_password
from gateway.store.database import Database
from gateway.store.members import MemberStore
from gateway.store.stations import DuplicateError, StationStore
from gateway.timeutil import parse_ocpp_datetime, system_clock

DEMO_DATABASE = Path("data/demo.sqlite3")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ocpp-gateway", description=__doc__)
    parser.add_argument("--config", type=Path, help="TOML configuration file")
    parser.add_argument("--database", type=Path, help="SQLite file (overrides the config)")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the gateway")
    demo = sub.add_parser("demo", help="run the gateway on a demo database with demo data")
    for p in (run, demo):
        p.add_argument("--ocpp-port", type=int)
        p.add_argument("--http-port", type=int)
        p.add_argument("--ocpp-host")
        p.add_argument("--http-host")

    stations = sub.add_parser("stations", help="register chargers").add_subparsers(
        dest="action", required=True
    )
    add = stations.add_parser("add", help="register a charger (prints a password if none given)")
    add.add_argument("charge_point_id")
    add.add_argument("--password", help="Basic auth password (16-40 characters)")
    add.add_argument("--site")
    add.add_argument("--timezone")
    cli_organisation.add_option(add)
    pw = stations.add_parser("set-password", help="rotate a charger's password")
    pw.add_argument("charge_point_id")
    pw.add_argument("--password")
    rm = stations.add_parser("remove")
    rm.add_argument("charge_point_id")
    stations.add_parser("list")

    members = sub.add_parser("members", help="manage members").add_subparsers(
        dest="action", required=True
    )
    cli_members.add_member_actions(members)
    cli_sync.add_member_actions(members)

    tokens = sub.add_parser("tokens", help="manage badges and app tokens").add_subparsers(
        dest="action", required=True
    )
    tadd = tokens.add_parser("add")
    tadd.add_argument("value")
    tadd.add_argument("--member", required=True, help="the member's email")
    tadd.add_argument("--type", default="ISO14443")
    tadd.add_argument("--expires", help="ISO-8601 date-time")
    cli_organisation.add_option(tadd)
    for name in ("block", "unblock"):
        tokens.add_parser(name).add_argument("value")
    tokens.add_parser("list")

    sub.add_parser("migrate", help="create or upgrade the database schema")
    cli_policies.add_parsers(sub)
    for module in (cli_admin, cli_members, cli_sync):
        module.add_parsers(sub)
    return parser


def _password(given: str | None) -> tuple[str, bool]:
    try:
        return network_values.charger_password(given)
    except Invalid as exc:
        raise SystemExit(f"error: {exc.message}") from None


async def _with_db(settings: Settings, work: Callable[[Database], Awaitable[int]]) -> int:
    db = Database(settings.database.path)
    await db.open()
    try:
        return await work(db)
    finally:
        await db.close()


def _admin(args: argparse.Namespace, settings: Settings) -> int:
    now = system_clock()

    async def work(db: Database) -> int:
        stations, members = StationStore(db), MemberStore(db)
        if args.command == "migrate":
            print(f"database {db.path} is up to date")
            return 0
        for module in (cli_admin, cli_members, cli_sync):
            if args.command in module.COMMANDS or (
                args.command == "members" and args.action in module.ACTIONS
            ):
                code: int = await module.run(args, db, settings)
                return code
        if args.command in ("organisations", "groups", "policies", "explain"):
            return await cli_policies.run(args, db, now)
        if args.command == "stations":
            return await _stations(args, stations, members, now, db)
        org = (
            await cli_organisation.resolve(db, args.organisation)
            if hasattr(args, "organisation")
            else None
        )
        return await _tokens(args, members, org, now)

    try:
        return asyncio.run(_with_db(settings, work))
    except (DuplicateError, cli_organisation.OrganisationError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


async def _stations(
    args: Any, stations: StationStore, members: MemberStore, now: datetime, db: Database
) -> int:
    if args.action == "list":
        for row in await stations.list():
            print("\t".join("" if v is None else str(v) for v in row.values()))
        return 0
    if args.action == "remove":
        found = await stations.remove(args.charge_point_id)
        print("removed" if found else "no such station")
        return 0 if found else 1
    password, generated = _password(args.password)
    if args.action == "add":
        if args.timezone:
            try:
                network_values.timezone(args.timezone)
            except Invalid as exc:
                print(f"error: {exc.message}", file=sys.stderr)
                return 1
        org_id = await cli_organisation.resolve(db, args.organisation)
        await stations.add(
            args.charge_point_id,
            hash_password(password),
            now,
            organisation_id=org_id,
            site=args.site,
            timezone=args.timezone,
        )
    elif not await stations.set_password(args.charge_point_id, hash_password(password)):
        print("no such station", file=sys.stderr)
        return 1
    print(f"station {args.charge_point_id}: Basic auth user {args.charge_point_id}")
    if generated:
        print(f"password (shown once): {password}")
    return 0


async def _tokens(args: Any, members: MemberStore, org: int | None, now: datetime) -> int:
    if args.action == "list":
        for row in await members.list_tokens():
            print("\t".join("" if v is None else str(v) for v in row.values()))
        return 0
    if args.action in ("block", "unblock"):
        status = "Blocked" if args.action == "block" else "Active"
        found = await members.set_token_status(args.value, status)
        print(f"token {args.value} is {status}" if found else "no such token")
        return 0 if found else 1
    assert org is not None
    member_id = await members.find_member(org, args.member)
    if member_id is None:
        print(
            f"no member {args.member} (add it with: ocpp-gateway members add --email ...)",
            file=sys.stderr,
        )
        return 1
    expires = parse_ocpp_datetime(args.expires) if args.expires else None
    await members.add_token(args.value, member_id, now, token_type=args.type, expires_at=expires)
    print(f"token {args.value} added for {args.member}")
    return 0


async def _serve(settings: Settings, demo: bool) -> None:
    # A fatal signal (SIGBUS when a file SQLite maps, the -shm, is cut short under it;
    # SIGSEGV) writes the Python traceback of every thread to stderr instead of nothing.
    faulthandler.enable()
    if demo:
        from gateway import demo as demo_data

        db = Database(settings.database.path)
        await db.open()
        try:
            await demo_data.seed(db, system_clock())
        finally:
            await db.close()
    gateway = create_app(settings)
    await gateway.start()
    if demo:
        from gateway.demo import instructions

        http = f"http://{settings.http.host}:{gateway.http_port}"
        print(instructions(settings.ocpp.host, gateway.ocpp_port, http), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await gateway.stop()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    overrides: dict[str, Any] = {}
    if args.command in ("run", "demo"):
        ocpp = {
            k: v for k, v in (("port", args.ocpp_port), ("host", args.ocpp_host)) if v is not None
        }
        http = {
            k: v for k, v in (("port", args.http_port), ("host", args.http_host)) if v is not None
        }
        if ocpp:
            overrides["ocpp"] = ocpp
        if http:
            overrides["http"] = http
    database = args.database or (DEMO_DATABASE if args.command == "demo" else None)
    if database is not None:
        overrides["database"] = {"path": database}
    try:
        settings = load_settings(args.config, **overrides)
    except ConfigError as exc:
        print(f"ocpp-gateway: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log.format, settings.log.level)
    if args.command in ("run", "demo"):
        asyncio.run(_serve(settings, demo=args.command == "demo"))
        return 0
    return _admin(args, settings)


if __name__ == "__main__":
    sys.exit(main())
