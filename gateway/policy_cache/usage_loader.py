"""Usage counters rebuilt from the transactions table at start.

A restart gives the same counters as before (a running session's reservation
hold is not restored: admission counts its actual use).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from operator import itemgetter
from typing import Any

import aiosqlite

from gateway.policy_engine import (
    EMPTY_USAGE,
    FREE,
    DayTotals,
    MemberUsage,
    SessionStart,
    Snapshot,
    counted_start,
    local_date,
    normalize_token,
    start_session,
    update_meter,
)
from gateway.store.policies import PolicyStore
from gateway.timeutil import parse_ocpp_datetime

USAGE_HORIZON = timedelta(days=370)  # the longest period is rolling:366


def _columns(rows: Sequence[aiosqlite.Row], *names: str) -> Iterator[tuple[Any, ...]]:
    """The named columns of each row, in that order, as plain tuples.

    Reading a `sqlite3.Row` by name scans its column names; many rows are
    read by position instead, the positions looked up once.
    """
    if not rows:
        return iter(())
    keys = rows[0].keys()
    return map(itemgetter(*(keys.index(name) for name in names)), rows)


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
        "id", "charge_point_id", "member_id", "id_token", "started_at", "counted_at",
        "created_at", "state", "energy_wh", "meter_start_wh", "meter_first_wh", "meter_last_wh",
    )  # fmt: skip
    for tx_id, station_id, member_id, id_token, *times, state, e, m0, m1, m2 in _columns(
        rows, *columns
    ):
        member = snapshot.members.get(member_id)
        counted_at = _counted_at(*times)
        if member is None or counted_at is None:
            continue
        meters = (e, m0, m1, m2)
        if state != "Ended":
            running.append((member, (tx_id, station_id, id_token, counted_at, meters)))
            continue
        tariff = snapshot.tariff_for(station_id) or FREE
        energy = max(_energy(*meters) or 0, 0)
        tz = snapshot.organisations[member.org_id].tz
        day = local_date(counted_at, tz).toordinal()
        day = ordinals.setdefault(day, day)
        days = settled[member.id]
        amount, energy_wh, sessions = days.get(day, (0, 0, 0))
        days[day] = (amount + tariff.cost(energy), energy_wh + energy, sessions + 1)
    usage = {
        member_id: MemberUsage(days={day: DayTotals(*totals) for day, totals in days.items()})
        for member_id, days in settled.items()
    }
    for member, (tx_id, station_id, id_token, counted_at, meters) in running:
        session_id = str(tx_id)
        start = SessionStart(
            session_id,
            member.id,
            normalize_token(id_token or ""),
            station_id,
            counted_at,
            snapshot.tariff_for(station_id) or FREE,
        )
        tz = snapshot.organisations[member.org_id].tz
        counters = start_session(usage.get(member.id, EMPTY_USAGE), start, tz)
        reading = _energy(*meters)
        if reading is not None:
            counters = update_meter(counters, session_id, reading)
        usage[member.id] = counters
    return usage


def _counted_at(started_at: str | None, counted_at: str | None, created_at: str) -> datetime | None:
    """The instant a transaction counts at: recorded when counted (schema 6), else derived
    by the same rule (``policy_engine.counted_start``) for rows written before."""
    if counted_at is not None:
        return parse_ocpp_datetime(counted_at)
    if started_at is None:
        return None
    return counted_start(parse_ocpp_datetime(started_at), parse_ocpp_datetime(created_at))


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
