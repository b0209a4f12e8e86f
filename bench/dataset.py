"""The benchmark's network: organisations, sites, stations, members, tokens, groups, policies.

Written straight into the gateway's schema with ``sqlite3`` (the schema itself
comes from ``ocpp-gateway migrate``), in one transaction, in a few seconds.
Shapes follow a mid-size operator:

* 10 organisations (Europe/Paris, 0.30 EUR/kWh), 3 sites each; an
  organisation policy on every one: all its stations, 200 EUR and 50
  sessions a month, 2 sessions at a time;
* ``stations`` stations ``BENCH-CP-00000``... (station *j* in organisation
  *j* mod 10, site *j* mod 3), each with its own scrypt hash (n = 2**10);
* ``members`` members, one token each (``BENCH-TOK-000000``...), member *i*
  in organisation *i* mod 10; by ``i mod 100``: 1 inactive, 2 pending,
  3 token blocked, 4 token lost, 5 token expired, 60-69 in a "day shift"
  group (Monday to Friday 06:00-22:00), 70-74 in a "site 1 only" group;
  the rest (88 %) may charge anywhere in their organisation at any time.

The load generator gives charger *j* the tokens *j*, *j + N*, *j + 2N*... of a
list (N chargers), so with N a multiple of 10 a charger presents only tokens
of its own organisation: :func:`authorize_tokens` is that list with one token
in a hundred replaced by an unregistered one; :func:`session_tokens` holds
only members with no restriction (``i mod 100`` in 10..19), in the same
organisation order, for full sessions.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gateway.security.passwords import hash_password
from gateway.store.members import token_key
from gateway.timeutil import to_text

ORGANISATIONS = 10
SITES_PER_ORGANISATION = 3
STATION_PASSWORD = "bench-station-password"
DAY_SHIFT = {
    "name": "day shift",
    "hours": [
        {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "06:00", "end": "22:00"},
    ],
}


def station_id(j: int) -> str:
    return f"BENCH-CP-{j:05d}"


def token_value(i: int) -> str:
    return f"BENCH-TOK-{i:06d}"


def authorize_tokens(members: int) -> list[str]:
    """Every member's token in order; one in a hundred replaced by an unknown badge."""
    return [f"BENCH-UNKNOWN-{i:06d}" if i % 100 == 0 else token_value(i) for i in range(members)]


def session_tokens(members: int) -> list[str]:
    """Tokens of unrestricted members, ordered so that list index mod 10 = organisation."""
    return [token_value(i) for i in range(members) if 10 <= i % 100 < 20]


def _migrate(database: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "gateway", "--database", str(database), "migrate"],
        check=True,
        capture_output=True,
    )


def build(database: Path, *, stations: int = 5000, members: int = 100_000) -> dict[str, float]:
    """Create ``database`` from scratch; returns counts and the seconds it took."""
    started = time.monotonic()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    database.parent.mkdir(parents=True, exist_ok=True)
    _migrate(database)
    now = datetime.now(UTC)
    stamp = to_text(now)
    expired = to_text(now - timedelta(days=30))
    db = sqlite3.connect(database, isolation_level=None)
    try:
        db.execute("PRAGMA synchronous = OFF")
        db.execute("BEGIN")
        sites: dict[tuple[int, int], int] = {}
        groups: dict[tuple[int, str], int] = {}
        for org in range(1, ORGANISATIONS + 1):
            db.execute(
                "INSERT INTO organisations (id, name, timezone, currency, group_token, created_at,"
                " price_per_kwh, session_fee, enforcement)"
                " VALUES (?, ?, 'Europe/Paris', 'EUR', ?, ?, '30', 0, 'enforce')",
                (org, f"Bench Org {org}", f"BENCH-GROUP-{org}", stamp),
            )
            for s in range(SITES_PER_ORGANISATION):
                cur = db.execute(
                    "INSERT INTO sites (organisation_id, name) VALUES (?, ?)", (org, f"Site {s}")
                )
                sites[(org, s)] = int(cur.lastrowid or 0)
            for name in ("day shift", "site 1 only"):
                cur = db.execute(
                    "INSERT INTO groups (organisation_id, name) VALUES (?, ?)", (org, name)
                )
                groups[(org, name)] = int(cur.lastrowid or 0)
            organisation_policy = {
                "name": "members",
                "all_stations": True,
                "amount_caps": [{"limit": "200", "period": "month"}],
                "session_caps": [{"limit": 50, "period": "month"}],
                "max_concurrent": 2,
            }
            policies = [
                ("organisation", org, organisation_policy),
                ("group", groups[(org, "day shift")], DAY_SHIFT),
                ("group", groups[(org, "site 1 only")], {"name": "site 1", "sites": ["Site 1"]}),
            ]
            for kind, scope, body in policies:
                db.execute(
                    "INSERT INTO policies (organisation_id, scope_kind, scope_id, body, updated_at)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (org, kind, scope, json.dumps(body), stamp),
                )
        db.executemany(
            "INSERT INTO stations (charge_point_id, organisation_id, password_hash, site, site_id,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (
                (
                    station_id(j),
                    j % ORGANISATIONS + 1,
                    hash_password(STATION_PASSWORD, n=2**10),
                    f"Site {j % SITES_PER_ORGANISATION}",
                    sites[(j % ORGANISATIONS + 1, j % SITES_PER_ORGANISATION)],
                    stamp,
                )
                for j in range(stations)
            ),
        )
        db.executemany(
            "INSERT INTO members (id, organisation_id, first_name, last_name, email, status,"
            " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                (
                    i + 1,
                    i % ORGANISATIONS + 1,
                    "Driver",
                    f"{i:06d}",
                    f"driver{i:06d}@example.org",
                    {1: "Inactive", 2: "Pending"}.get(i % 100, "Active"),
                    stamp,
                    stamp,
                )
                for i in range(members)
            ),
        )
        db.executemany(
            "INSERT INTO tokens (value, value_key, type, member_id, status, expires_at,"
            " created_at) VALUES (?, ?, 'ISO14443', ?, ?, ?, ?)",
            (
                (
                    token_value(i),
                    token_key(token_value(i)),
                    i + 1,
                    {3: "Blocked", 4: "Lost"}.get(i % 100, "Active"),
                    expired if i % 100 == 5 else None,
                    stamp,
                )
                for i in range(members)
            ),
        )
        memberships = []
        for i in range(members):
            org = i % ORGANISATIONS + 1
            if 60 <= i % 100 < 70:
                memberships.append((i + 1, groups[(org, "day shift")]))
            elif 70 <= i % 100 < 75:
                memberships.append((i + 1, groups[(org, "site 1 only")]))
        db.executemany("INSERT INTO member_groups (member_id, group_id) VALUES (?, ?)", memberships)
        db.execute("COMMIT")
    finally:
        db.close()
    return {
        "organisations": ORGANISATIONS,
        "stations": stations,
        "members": members,
        "tokens": members,
        "policies": ORGANISATIONS * 3,
        "seconds": round(time.monotonic() - started, 1),
    }


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("bench-results/dataset.sqlite3")
    print(build(target))
