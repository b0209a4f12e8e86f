"""From database rows to the engine's frozen :class:`Snapshot`, and usage from transactions.

Loading happens at start and whenever the database's cache generation moves
(any change to organisations, stations, sites, members, groups, tokens or
policies, whoever made it). Usage counters are rebuilt from the transactions
table at start, so a restart gives the same counters as before (a running
session's reservation hold is not restored: admission counts its actual use).
"""

from __future__ import annotations

import asyncio
import gc
import json
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from decimal import Decimal
from enum import Enum
from operator import itemgetter
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import aiosqlite
import structlog

from gateway.members.policy_spec import PolicySpec, to_policy
from gateway.policy_engine import (
    EMPTY_USAGE,
    FREE,
    DayTotals,
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
    local_date,
    normalize_token,
    start_session,
    update_meter,
)
from gateway.store.policies import PolicyStore, Rows
from gateway.timeutil import parse_ocpp_datetime

log = structlog.get_logger("gateway.policy_cache")
E = TypeVar("E", bound=Enum)
USAGE_HORIZON = timedelta(days=370)  # the longest period is rolling:366


def _zone(name: str | None, fallback: ZoneInfo | None = None) -> ZoneInfo | None:
    if not name:
        return fallback
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        log.error("unknown time zone, using the fallback", zone=name)
        return fallback


def _columns(rows: Sequence[aiosqlite.Row], *names: str) -> Iterator[tuple[Any, ...]]:
    """The named columns of each row, in that order, as plain tuples.

    Reading a `sqlite3.Row` by name scans its column names; a million rows
    are read by position instead, the positions looked up once.
    """
    if not rows:
        return iter(())
    keys = rows[0].keys()
    return map(itemgetter(*(keys.index(name) for name in names)), rows)


class _Lookup(dict[Any, E]):
    """`lookup[value]` is `enum(value)` (ValueError and all), remembered.

    A million `Enum.__call__` take a second; indexing a dict does not call
    Python code at all once the few values a column holds are known.
    """

    def __init__(self, enum: type[E]) -> None:
        super().__init__()
        self._enum = enum

    def __missing__(self, value: Any) -> E:
        member = self[value] = self._enum(value)
        return member


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while millions of objects are made.

    Reading and building a million members' rows allocates millions of
    container objects, none of them in a reference cycle; each collection
    those allocations trigger traverses all those made so far (seconds at a
    million, and pauses for the event loop too). Reference counting still
    frees everything meanwhile. Resumes only if it was running.
    """
    running = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if running:
            gc.enable()


def build_snapshot(rows: Rows) -> Snapshot:
    """The snapshot of `rows`: organisations, stations, members, tokens, policies.

    Sized for a million members and tokens (seconds, in a worker thread):
    columns read by position, enums through dicts, members' group sets and
    identical policy bodies shared, no per-row work that `Snapshot.build`
    repeats, and the garbage collector paused.
    """
    with gc_paused():
        return _build(rows)


def _build(rows: Rows) -> Snapshot:
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
    members = _members(rows)
    return Snapshot.build(
        organisations=organisations,
        stations=stations,
        members=members,
        tokens=_tokens(rows, {m.id: m.id for m in members}),
        policies=_policies(rows),
    )


def _group_sets(rows: Rows) -> dict[int, frozenset[int]]:
    """Each member's groups; members in the same groups share one frozenset."""
    sets: dict[int, frozenset[int]] = {}
    unions: dict[tuple[frozenset[int], int], frozenset[int]] = {}
    shared: dict[frozenset[int], frozenset[int]] = {}
    no_groups: frozenset[int] = frozenset()
    for member_id, group_id in _columns(rows.member_groups, "member_id", "group_id"):
        key = (sets.get(member_id, no_groups), group_id)
        union = unions.get(key)
        if union is None:
            union = key[0] | {group_id}
            union = unions[key] = shared.setdefault(union, union)
        sets[member_id] = union
    return sets


def _members(rows: Rows) -> list[MemberInfo]:
    group_sets = _group_sets(rows)
    no_groups: frozenset[int] = frozenset()
    roles = {role.value: role for role in Role}  # an unknown role reads as User
    statuses = _Lookup(MemberStatus)
    when = parse_ocpp_datetime
    columns = (
        "id", "organisation_id", "first_name", "last_name", "email", "role", "status",
        "valid_until",
    )  # fmt: skip
    return [
        MemberInfo(
            id,
            org_id,
            first_name,
            last_name,
            email or "",
            roles.get(role_name, Role.USER),
            statuses[status_name],
            group_sets.get(id, no_groups),
            None,
            when(valid_until) if valid_until else None,
        )
        for id, org_id, first_name, last_name, email, role_name, status_name, valid_until in (
            _columns(rows.members, *columns)
        )
    ]


def _tokens(rows: Rows, member_ids: dict[int, int]) -> list[TokenInfo]:
    """Tokens; `member_ids` maps a member id to the members' own int object.

    Then a token's `member_id` is the very key of `Snapshot.members`: a
    million ints fewer, and a decision finds the member without reading a
    second int from memory.
    """
    kinds = _Lookup(TokenType)
    statuses = _Lookup(TokenStatus)
    when = parse_ocpp_datetime
    columns = ("value", "type", "member_id", "status", "expires_at")
    return [
        TokenInfo(
            value,
            kinds[type_name],
            member_ids.get(member_id, member_id),
            statuses[status_name],
            when(expires_at) if expires_at else None,
        )
        for value, type_name, member_id, status_name, expires_at in _columns(rows.tokens, *columns)
    ]


def _policies(rows: Rows) -> dict[PolicyScope, Policy]:
    """Policies by scope; identical bodies (say, a thousand member exceptions) parsed once."""
    site_ids: dict[int, dict[str, int]] = defaultdict(dict)
    for r in rows.sites:
        site_ids[r["organisation_id"]][r["name"]] = r["id"]
    parsed: dict[tuple[str, str, int], Policy] = {}
    policies: dict[PolicyScope, Policy] = {}
    for r in rows.policies:
        key = (r["body"], r["currency"], r["organisation_id"])
        policy = parsed.get(key)
        if policy is None:
            spec = PolicySpec.model_validate(json.loads(r["body"]))
            policy = parsed[key] = to_policy(spec, r["currency"], site_ids[r["organisation_id"]])
        policies[PolicyScope(ScopeKind(r["scope_kind"]), r["scope_id"])] = policy
    return policies


async def load_snapshot(store: PolicyStore) -> Snapshot:
    """Read the rows, then build the snapshot in a worker thread.

    Building is pure CPU work proportional to the data (seconds for a million
    tokens); off the event loop, chargers keep being answered from the
    current snapshot meanwhile, and the new one is swapped in whole. The
    garbage collector is paused throughout (`gc_paused`).
    """
    with gc_paused():
        rows = await store.rows()
        return await asyncio.to_thread(build_snapshot, rows)


async def load_usage(
    store: PolicyStore, snapshot: Snapshot, now: datetime
) -> dict[int, MemberUsage]:
    """Per-member counters from recorded transactions (ended: settled; open: running)."""
    return usage_from_rows(await store.usage_rows(now - USAGE_HORIZON), snapshot)


def usage_from_rows(rows: Sequence[aiosqlite.Row], snapshot: Snapshot) -> dict[int, MemberUsage]:
    """The counters `start_session`, `update_meter` and `settle` make of these transactions.

    Ended transactions (nearly all of them) are summed straight into their
    member's local days: what the three steps would leave, without the
    intermediate counters (seconds saved per hundred thousand). Open ones,
    then, go through the steps: they are running sessions.
    """
    settled: defaultdict[int, dict[int, tuple[int, int, int]]] = defaultdict(dict)
    ordinals: dict[int, int] = {}  # one int per day, shared by every member's counters
    running = []
    columns = (
        "id", "charge_point_id", "member_id", "id_token", "started_at", "state", "energy_wh",
        "meter_start_wh", "meter_first_wh", "meter_last_wh",
    )  # fmt: skip
    for row in _columns(rows, *columns):
        _, station_id, member_id, _, started_at, state, *meters = row
        member = snapshot.members.get(member_id)
        if member is None or started_at is None:
            continue
        if state != "Ended":
            running.append((member, row))
            continue
        tariff = snapshot.tariff_for(station_id) or FREE
        energy = max(_energy(*meters) or 0, 0)
        tz = snapshot.organisations[member.org_id].tz
        day = local_date(parse_ocpp_datetime(started_at), tz).toordinal()
        day = ordinals.setdefault(day, day)
        days = settled[member.id]
        amount, energy_wh, sessions = days.get(day, (0, 0, 0))
        days[day] = (amount + tariff.cost(energy), energy_wh + energy, sessions + 1)
    usage = {
        member_id: MemberUsage(days={day: DayTotals(*totals) for day, totals in days.items()})
        for member_id, days in settled.items()
    }
    for member, (tx_id, station_id, _, id_token, started_at, _, *meters) in running:
        session_id = str(tx_id)
        start = SessionStart(
            session_id,
            member.id,
            normalize_token(id_token or ""),
            station_id,
            parse_ocpp_datetime(started_at),
            snapshot.tariff_for(station_id) or FREE,
        )
        tz = snapshot.organisations[member.org_id].tz
        counters = start_session(usage.get(member.id, EMPTY_USAGE), start, tz)
        reading = _energy(*meters)
        if reading is not None:
            counters = update_meter(counters, session_id, reading)
        usage[member.id] = counters
    return usage


def _energy(
    energy_wh: float | None, start: float | None, first: float | None, last: float | None
) -> int | None:
    """Energy of a transaction so far, in Wh (None when no meter reading is known).

    The columns `energy_wh`, `meter_start_wh`, `meter_first_wh`, `meter_last_wh`.
    """
    if energy_wh is not None:
        return int(energy_wh)
    begin = start if start is not None else first
    if begin is not None and last is not None:
        return int(last - begin)
    return None
