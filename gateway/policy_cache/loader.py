"""From database rows to the engine's frozen :class:`Snapshot`, and usage from transactions.

Loading happens at start and whenever the database's cache generation moves
(any change to organisations, stations, sites, members, groups, tokens or
policies, whoever made it). Usage counters are rebuilt from the transactions
table at start, so a restart gives the same counters as before (a running
session's reservation hold is not restored: admission counts its actual use).
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import aiosqlite
import structlog

from gateway.members.policy_spec import PolicySpec, to_policy
from gateway.policy_engine import (
    FREE,
    EnforcementMode,
    MemberInfo,
    MemberStatus,
    MemberUsage,
    OrganisationInfo,
    Policy,
    PolicyScope,
    Role,
    ScopeKind,
    SessionStart,
    Snapshot,
    StationInfo,
    Tariff,
    TokenInfo,
    TokenStatus,
    TokenType,
    normalize_token,
    settle,
    start_session,
    update_meter,
)
from gateway.store.policies import PolicyStore, Rows
from gateway.timeutil import parse_ocpp_datetime

log = structlog.get_logger("gateway.policy_cache")
USAGE_HORIZON = timedelta(days=370)  # the longest period is rolling:366


def _zone(name: str | None, fallback: ZoneInfo | None = None) -> ZoneInfo | None:
    if not name:
        return fallback
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        log.error("unknown time zone, using the fallback", zone=name)
        return fallback


def _when(text: str | None) -> datetime | None:
    return parse_ocpp_datetime(text) if text else None


def build_snapshot(rows: Rows) -> Snapshot:
    utc = ZoneInfo("UTC")
    organisations = [
        OrganisationInfo(
            id=r["id"],
            name=r["name"],
            tz=_zone(r["timezone"], utc) or utc,
            currency=r["currency"],
            tariff=Tariff(Decimal(r["price_per_kwh"] or "0"), int(r["session_fee"] or 0)),
            enforcement=EnforcementMode(r["enforcement"]),
            group_token=r["group_token"],
        )
        for r in rows.organisations
    ]
    stations = []
    for r in rows.stations:
        tariff = None
        if r["price_per_kwh"] is not None or r["session_fee"] is not None:
            tariff = Tariff(Decimal(r["price_per_kwh"] or "0"), int(r["session_fee"] or 0))
        stations.append(
            StationInfo(
                r["charge_point_id"],
                r["organisation_id"],
                r["site_id"],
                _zone(r["timezone"]),
                tariff,
            )
        )
    groups: dict[int, set[int]] = defaultdict(set)
    for r in rows.member_groups:
        groups[r["member_id"]].add(r["group_id"])
    members = [
        MemberInfo(
            id=r["id"],
            org_id=r["organisation_id"],
            first_name=r["first_name"],
            last_name=r["last_name"],
            email=r["email"] or "",
            role=Role(r["role"]) if r["role"] in Role.__members__.values() else Role.USER,
            status=MemberStatus(r["status"]),
            groups=frozenset(groups.get(r["id"], ())),
            valid_until=_when(r["valid_until"]),
        )
        for r in rows.members
    ]
    tokens = [
        TokenInfo(
            r["value"],
            TokenType(r["type"]),
            r["member_id"],
            TokenStatus(r["status"]),
            _when(r["expires_at"]),
        )
        for r in rows.tokens
    ]
    site_ids: dict[int, dict[str, int]] = defaultdict(dict)
    for r in rows.sites:
        site_ids[r["organisation_id"]][r["name"]] = r["id"]
    policies: dict[PolicyScope, Policy] = {}
    for r in rows.policies:
        spec = PolicySpec.model_validate(json.loads(r["body"]))
        scope = PolicyScope(ScopeKind(r["scope_kind"]), r["scope_id"])
        policies[scope] = to_policy(spec, r["currency"], site_ids[r["organisation_id"]])
    return Snapshot.build(
        organisations=organisations,
        stations=stations,
        members=members,
        tokens=tokens,
        policies=policies,
    )


async def load_snapshot(store: PolicyStore) -> Snapshot:
    """Read the rows, then build the snapshot in a worker thread.

    Building is pure CPU work proportional to the data (seconds for a million
    tokens); off the event loop, chargers keep being answered from the
    current snapshot meanwhile, and the new one is swapped in whole.
    """
    rows = await store.rows()
    return await asyncio.to_thread(build_snapshot, rows)


async def load_usage(
    store: PolicyStore, snapshot: Snapshot, now: datetime
) -> dict[int, MemberUsage]:
    """Per-member counters from recorded transactions (ended: settled; open: running)."""
    usage: dict[int, MemberUsage] = {}
    for r in await store.usage_rows(now - USAGE_HORIZON):
        member = snapshot.members.get(r["member_id"])
        if member is None or r["started_at"] is None:
            continue
        org = snapshot.organisations[member.org_id]
        session_id = str(r["id"])
        tariff = snapshot.tariff_for(r["charge_point_id"]) or FREE
        start = SessionStart(
            session_id,
            member.id,
            normalize_token(r["id_token"] or ""),
            r["charge_point_id"],
            parse_ocpp_datetime(r["started_at"]),
            tariff,
        )
        counters = start_session(usage.get(member.id, MemberUsage()), start, org.tz)
        energy = _energy(r)
        if energy is not None:
            counters = update_meter(counters, session_id, energy)
        if r["state"] == "Ended":
            counters = settle(counters, session_id, energy)
        usage[member.id] = counters
    return usage


def _energy(row: aiosqlite.Row) -> int | None:
    """Energy of a transaction so far, in Wh (None when no meter reading is known)."""
    if row["energy_wh"] is not None:
        return int(row["energy_wh"])
    first = row["meter_start_wh"] if row["meter_start_wh"] is not None else row["meter_first_wh"]
    if first is not None and row["meter_last_wh"] is not None:
        return int(row["meter_last_wh"] - first)
    return None
