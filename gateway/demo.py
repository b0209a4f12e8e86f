"""Demo data: one organisation, two stations (1.6 and 2.0.1), tokens for every outcome.

Seeded only into the demo database (``ocpp-gateway demo``), never implicitly
into a production database. Seeding twice changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aiosqlite

from gateway.security.passwords import hash_password
from gateway.store.admin import hash_secret
from gateway.store.database import Database
from gateway.store.members import MemberStore
from gateway.store.policies import PolicyStore
from gateway.store.stations import StationStore
from gateway.timeutil import to_text


@dataclass(frozen=True)
class DemoToken:
    value: str
    expect_16: str
    expect_201: str
    why: str


STATIONS = {"DEMO-CP16": "demo-password-16", "DEMO-CP201": "demo-password-201"}
ORGANISATION = "Demo Charging"
GROUP_TOKEN = "DEMO-FLEET"
# The demo Owner's admin API token: public, like the passwords above; demo databases only.
API_TOKEN = "ogw_demo-owner-token-for-the-demo-database-only"

TOKENS = (
    DemoToken("DEMO-OK", "Accepted", "Accepted", "active member, active token"),
    DemoToken("DEMO-BLOCKED", "Blocked", "Blocked", "token blocked"),
    DemoToken("DEMO-LOST", "Blocked", "Blocked", "token reported lost"),
    DemoToken("DEMO-INACTIVE", "Blocked", "Blocked", "member deactivated"),
    DemoToken("DEMO-PENDING", "Invalid", "Invalid", "member invited, not yet active"),
    DemoToken("DEMO-EXPIRED", "Expired", "Expired", "token expired"),
    DemoToken("DEMO-UNKNOWN", "Invalid", "Unknown", "not registered"),
    DemoToken("DEMO-ELSEWHERE", "Invalid", "NotAtThisLocation", "allowed only at site Paris"),
    DemoToken("DEMO-LATER", "Invalid", "NotAtThisTime", "policy valid from 2100"),
    DemoToken("DEMO-NOCREDIT", "Blocked", "NoCredit", "amount cap of 0 EUR a month"),
    DemoToken("DEMO-SESSIONS", "Blocked", "NotAtThisTime", "0 sessions a day allowed"),
    DemoToken("DEMO-BUSY", "ConcurrentTx", "ConcurrentTx", "one session at a time, one running"),
)

# Member policies (JSON, as `ocpp-gateway policies set` takes them) per restricted token.
POLICIES: dict[str, dict[str, Any]] = {
    "DEMO-ELSEWHERE": {"sites": ["Paris"]},
    "DEMO-LATER": {"valid_from": "2100-01-01T00:00:00+00:00"},
    "DEMO-NOCREDIT": {"amount_caps": [{"limit": "0", "period": "month"}]},
    "DEMO-SESSIONS": {"session_caps": [{"limit": 0, "period": "day"}]},
    "DEMO-BUSY": {"max_concurrent": 1},
}


async def seed(db: Database, now: datetime) -> bool:
    """Seed the demo data; returns False when it was already there."""
    stations, members = StationStore(db), MemberStore(db)
    if await stations.get("DEMO-CP16") is not None:
        return False
    org = await members.ensure_organisation(
        ORGANISATION, now, timezone="Europe/Paris", group_token=GROUP_TOKEN
    )
    policies = PolicyStore(db)
    await policies.update_organisation(org, price_per_kwh="30", session_fee=0)
    await policies.ensure_site(org, "Paris")
    for cpid, password in STATIONS.items():
        await stations.add(cpid, hash_password(password), now, organisation_id=org, site="Lyon")
    people = {
        "active": await members.add_member(
            org, now, first_name="Ada", last_name="Active", email="ada@example.org"
        ),
        "inactive": await members.add_member(
            org,
            now,
            first_name="Ian",
            last_name="Inactive",
            email="ian@example.org",
            status="Inactive",
        ),
        "pending": await members.add_member(
            org,
            now,
            first_name="Pia",
            last_name="Pending",
            email="pia@example.org",
            status="Pending",
        ),
    }
    await members.add_token("DEMO-OK", people["active"], now)
    await members.add_token("DEMO-BLOCKED", people["active"], now, status="Blocked")
    await members.add_token("DEMO-LOST", people["active"], now, status="Lost")
    await members.add_token(
        "DEMO-EXPIRED", people["active"], now, expires_at=now - timedelta(days=1)
    )
    await members.add_token("DEMO-INACTIVE", people["inactive"], now)
    await members.add_token("DEMO-PENDING", people["pending"], now)
    for value, body in POLICIES.items():
        member = await members.add_member(
            org,
            now,
            first_name=value.title(),
            last_name="Demo",
            email=f"{value.lower()}@example.org",
        )
        await members.add_token(value, member, now)
        await policies.set_policy(org, "member", member, body, now)
        if value == "DEMO-BUSY":
            await _running_session(db, member, value, now)
    await _owner(db, org, now)
    return True


async def _owner(db: Database, org: int, now: datetime) -> None:
    """The organisation's Owner, with the demo API token (printed by ``make demo``)."""

    async def op(conn: aiosqlite.Connection) -> None:
        cur = await conn.execute(
            "INSERT INTO members (organisation_id, first_name, last_name, email, role, status,"
            " created_at, updated_at) VALUES (?, 'Olga', 'Owner', 'owner@example.org', 'Owner',"
            " 'Active', ?, ?)",
            (org, to_text(now), to_text(now)),
        )
        await conn.execute(
            "INSERT INTO api_tokens (member_id, name, token_hash, prefix, created_at)"
            " VALUES (?, 'demo', ?, ?, ?)",
            (cur.lastrowid, hash_secret(API_TOKEN), API_TOKEN[:10], to_text(now)),
        )

    await db.write(op)


async def _running_session(db: Database, member_id: int, token: str, now: datetime) -> None:
    """An open transaction on connector 2 of DEMO-CP16, so the concurrency cap bites."""

    async def op(conn: aiosqlite.Connection) -> None:
        await conn.execute(
            "INSERT INTO transactions (charge_point_id, ocpp_version, connector_id, id_token,"
            " member_id, auth_status, auth_reason, started_at, meter_start_wh, created_at,"
            " updated_at) VALUES ('DEMO-CP16', '1.6', 2, ?, ?, 'Accepted', 'accepted', ?, 0, ?, ?)",
            (token, member_id, to_text(now), to_text(now), to_text(now)),
        )

    await db.write(op)


def instructions(host: str, port: int, http: str | None = None) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    lines = ["", "Demo gateway (database seeded with demo data only):"]
    for cpid, password in STATIONS.items():
        lines.append(f"  charger  ws://{shown}:{port}/{cpid}   Basic auth {cpid} / {password}")
    lines.append("  tokens (1.6 status / 2.0.1 status):")
    for t in TOKENS:
        lines.append(f"    {t.value:<14} {t.expect_16:<9} / {t.expect_201:<9} {t.why}")
    lines.append(f"  try it:  .venv/bin/python -m simulators.demo --url ws://{shown}:{port}")
    if http is not None:
        lines.append(f"  admin API: {http}/docs   (Owner owner@example.org)")
        lines.append(f"    curl -H 'Authorization: Bearer {API_TOKEN}' {http}/api/v1/members")
    lines.append("")
    return "\n".join(lines)
