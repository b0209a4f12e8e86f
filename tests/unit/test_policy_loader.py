"""From database rows to a snapshot (`gateway.policy_cache.loader.build_snapshot`).

The loader reads a million rows by position, converts enums through dicts,
shares group sets and identical policy bodies: the snapshot must be the one
a plain row-by-row reading gives.
"""

from __future__ import annotations

import gc
import json
import sqlite3
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.policy_cache.loader import build_snapshot, gc_paused, usage_from_rows
from gateway.policy_engine import (
    FREE,
    MemberInfo,
    MemberStatus,
    MemberUsage,
    PolicyScope,
    Role,
    ScopeKind,
    SessionStart,
    Snapshot,
    TokenInfo,
    TokenStatus,
    TokenType,
    counted_start,
    normalize_token,
    settle,
    start_session,
    update_meter,
)
from gateway.store.policies import Rows
from gateway.timeutil import parse_ocpp_datetime

ORGANISATION = (1, "Org", "Europe/Paris", "EUR", "25", 0, "enforce", "G1", "value")
COLUMNS = {
    "organisations": (
        "id", "name", "timezone", "currency", "price_per_kwh", "session_fee", "enforcement",
        "group_token", "token_type_match",
    ),
    "sites": ("id", "organisation_id", "name"),
    "stations": (
        "charge_point_id", "organisation_id", "site_id", "timezone", "price_per_kwh",
        "session_fee",
    ),
    "members": (
        "id", "organisation_id", "first_name", "last_name", "email", "role", "status",
        "valid_until",
    ),
    "member_groups": ("member_id", "group_id"),
    "tokens": ("value", "type", "member_id", "status", "expires_at"),
    "policies": ("scope_kind", "scope_id", "body", "currency", "organisation_id"),
}  # fmt: skip


def _rows(**tables: Sequence[tuple[Any, ...]]) -> Rows:
    """Plain tuples with the columns `PolicyStore.rows` selects, as the store returns them."""
    db = sqlite3.connect(":memory:")
    found: dict[str, list[tuple[Any, ...]]] = {}
    for table, columns in COLUMNS.items():
        db.execute(f"CREATE TABLE {table} ({', '.join(columns)})")
        values = tables.get(table, [ORGANISATION] if table == "organisations" else [])
        marks = ", ".join("?" for _ in columns)
        db.executemany(f"INSERT INTO {table} VALUES ({marks})", values)
        found[table] = db.execute(f"SELECT * FROM {table} ORDER BY rowid").fetchall()
    db.close()
    return Rows(**found)


def member_scope(member_id: int) -> PolicyScope:
    return PolicyScope(ScopeKind.MEMBER, member_id)


def _member(member_id: int, status: str = "Active", role: str | None = "User") -> tuple[Any, ...]:
    return (member_id, 1, "M", str(member_id), None, role, status, None)


# ---- the snapshot a row-by-row reading gives -------------------------------------------

texts = st.sampled_from([None, "", "2026-01-01T00:00:00Z", "2026-03-29T01:30:00+01:00"])
member_rows = st.lists(
    st.tuples(
        st.sampled_from(["Ann", ""]),
        st.one_of(st.none(), st.emails()),
        st.sampled_from([None, "Owner", "Manager", "User", "Superuser"]),
        st.sampled_from([s.value for s in MemberStatus]),
        texts,
        st.frozensets(st.integers(1, 4), max_size=3),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=100)
@given(
    member_rows,
    st.lists(
        st.tuples(
            st.sampled_from([t.value for t in TokenType]),
            st.sampled_from([s.value for s in TokenStatus]),
            texts,
        ),
        max_size=12,
    ),
)
def test_the_snapshot_is_the_one_a_row_by_row_reading_gives(
    people: list[tuple[Any, ...]], badges: list[tuple[str, str, str | None]]
) -> None:
    members = [
        (i, 1, first, f"L{i}", email, role, status, until)
        for i, (first, email, role, status, until, _) in enumerate(people, start=1)
    ]
    groups = [(i, g) for i, (*_, gs) in enumerate(people, start=1) for g in sorted(gs)]
    tokens = [
        (f"t{i:04X}", kind, 1 + i % len(people), status, expires)
        for i, (kind, status, expires) in enumerate(badges)
    ]
    snapshot = build_snapshot(_rows(members=members, member_groups=groups, tokens=tokens))

    def when(text: str | None) -> Any:
        return parse_ocpp_datetime(text) if text else None

    expected_members = {
        i: MemberInfo(
            i,
            1,
            first,
            last,
            email or "",
            Role(role) if role in Role.__members__.values() else Role.USER,
            MemberStatus(status),
            frozenset(g for m, g in groups if m == i),
            None,
            when(until),
        )
        for i, _, first, last, email, role, status, until in members
    }
    expected_tokens = {
        value.casefold(): TokenInfo(value, TokenType(kind), m, TokenStatus(status), when(exp))
        for value, kind, m, status, exp in tokens
    }
    assert dict(snapshot.members) == expected_members
    assert dict(snapshot.tokens) == expected_tokens


def test_members_in_the_same_groups_share_one_set() -> None:
    rows = _rows(
        members=[_member(1), _member(2), _member(3)],
        member_groups=[(1, 5), (1, 6), (2, 6), (2, 5), (3, 5)],
    )
    members = build_snapshot(rows).members
    assert members[1].groups == frozenset({5, 6})
    assert members[1].groups is members[2].groups
    assert members[3].groups == frozenset({5})


def test_identical_policy_bodies_are_parsed_once() -> None:
    body = json.dumps({"hours": [{"days": ["mon"], "start": "22:00", "end": "07:00"}]})
    rows = _rows(
        members=[_member(1), _member(2)],
        policies=[
            ("member", 1, body, "EUR", 1),
            ("member", 2, body, "EUR", 1),
            ("group", 3, json.dumps({"max_concurrent": 1}), "EUR", 1),
        ],
    )
    policies = build_snapshot(rows).policies
    assert policies[member_scope(1)] is policies[member_scope(2)]
    assert policies[PolicyScope(ScopeKind.GROUP, 3)].max_concurrent == 1


def test_an_unknown_status_is_refused_as_before() -> None:
    with pytest.raises(ValueError, match="'Asleep' is not a valid MemberStatus"):
        build_snapshot(_rows(members=[_member(1, status="Asleep")]))


def test_an_unknown_role_reads_as_user() -> None:
    snapshot = build_snapshot(_rows(members=[_member(1, role="Wizard"), _member(2, role=None)]))
    assert snapshot.members[1].role is snapshot.members[2].role is Role.USER


@pytest.mark.parametrize("running", [True, False])
def test_gc_paused_resumes_only_a_collector_that_was_running(running: bool) -> None:
    was = gc.isenabled()
    try:
        (gc.enable if running else gc.disable)()
        with gc_paused():
            assert not gc.isenabled()
        assert gc.isenabled() is running
    finally:
        (gc.enable if was else gc.disable)()


# ---- usage rebuilt from transactions -------------------------------------------------

TRANSACTION_COLUMNS = (
    "id", "charge_point_id", "member_id", "id_token", "started_at", "counted_at", "created_at",
    "state", "energy_wh", "meter_start_wh", "meter_first_wh", "meter_last_wh", "cost",
)  # fmt: skip
meter = st.one_of(st.none(), st.integers(-50, 40_000))
transactions = st.lists(
    st.tuples(
        st.sampled_from(["CP-1", "CP-fee", "CP-gone"]),
        st.integers(1, 3),
        st.sampled_from(["2024-06-12T21:30:00Z", "2024-06-12T22:30:00Z", "2024-06-01T08:00:00Z"]),
        # recorded (schema 6) or not (older rows: derived from started_at and created_at)
        st.sampled_from([None, "2024-06-12T23:30:00Z", "2024-05-20T10:00:00Z"]),
        # received: at the start, the next day, long after (the start not believed)
        st.sampled_from(["2024-06-12T22:30:00Z", "2024-06-13T09:00:00Z", "2024-09-01T00:00:00Z"]),
        st.sampled_from(["Ended", "Ended", "Open"]),
        meter,
        meter,
        meter,
        meter,
    ),
    max_size=15,
)


def _usage_rows(values: list[tuple[Any, ...]]) -> list[sqlite3.Row]:
    db = sqlite3.connect(":memory:")
    db.row_factory = sqlite3.Row
    db.execute(f"CREATE TABLE transactions ({', '.join(TRANSACTION_COLUMNS)})")
    db.executemany(
        f"INSERT INTO transactions VALUES ({', '.join('?' * len(TRANSACTION_COLUMNS))})", values
    )
    rows = db.execute("SELECT * FROM transactions ORDER BY id").fetchall()
    db.close()
    return rows


def _step_by_step(rows: list[sqlite3.Row], snapshot: Snapshot) -> dict[int, MemberUsage]:
    """What a start, its meter values and its stop do to the counters, one transaction at a
    time (the loader's former reading)."""
    usage: dict[int, MemberUsage] = {}
    for r in rows:
        member = snapshot.members.get(r["member_id"])
        if member is None or (r["started_at"] is None and r["counted_at"] is None):
            continue
        if r["counted_at"] is not None:
            counted_at = parse_ocpp_datetime(r["counted_at"])
        else:
            counted_at = counted_start(
                parse_ocpp_datetime(r["started_at"]), parse_ocpp_datetime(r["created_at"])
            )
        org = snapshot.organisations[member.org_id]
        session_id = str(r["id"])
        tariff = snapshot.tariff_for(r["charge_point_id"]) or FREE
        start = SessionStart(
            session_id,
            member.id,
            normalize_token(r["id_token"] or ""),
            r["charge_point_id"],
            counted_at,
            tariff,
        )
        counters = start_session(usage.get(member.id, MemberUsage()), start, org.tz)
        energy = None
        if r["energy_wh"] is not None:
            energy = int(r["energy_wh"])
        else:
            first = r["meter_start_wh"] if r["meter_start_wh"] is not None else r["meter_first_wh"]
            if first is not None and r["meter_last_wh"] is not None:
                energy = int(r["meter_last_wh"] - first)
        if energy is not None:
            counters = update_meter(counters, session_id, energy)
        if r["state"] == "Ended":
            counters = settle(counters, session_id, energy)
        usage[member.id] = counters
    return usage


@settings(max_examples=150)
@given(transactions)
def test_usage_is_what_starts_meter_values_and_stops_make(
    values: list[tuple[Any, ...]],
) -> None:
    """Ended transactions summed straight into days, open ones running, as step by step."""
    snapshot = build_snapshot(
        _rows(
            members=[_member(1), _member(2)],  # member 3 is gone
            stations=[
                ("CP-1", 1, None, None, None, None),
                ("CP-fee", 1, None, "Europe/Paris", "31.5", 45),
            ],
        )
    )
    rows = _usage_rows(
        [(i, cp, m, "tok", at, counted, received, state, *meters, None)
         for i, (cp, m, at, counted, received, state, *meters) in enumerate(values, start=1)]
    )  # fmt: skip
    assert usage_from_rows(rows, snapshot) == _step_by_step(rows, snapshot)
