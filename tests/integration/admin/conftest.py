"""Admin API fixtures: a real gateway on port 0, organisations with an Owner, members of each
role with their own API tokens, and HTTP clients over real sockets (httpx)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from gateway.members.service import Actor
from gateway.security.passwords import hash_password
from gateway.timeutil import to_text
from tests.conftest import Harness, StartGateway

ACME_STATION = "ACME-CP"
ACME_STATION_201 = "ACME-CP201"
ACME_PASSWORD = "password-of-acme-cp"


@dataclass
class Org:
    """An organisation made with ``create_organisation`` and ways to act in it."""

    harness: Harness
    id: int
    owner_id: int
    owner_token: str
    clients: list[httpx.AsyncClient] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"{self.harness.http}/api/v1"

    def client(self, token: str | None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        client = httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=30)
        self.clients.append(client)
        return client

    @property
    def owner(self) -> httpx.AsyncClient:
        return self.client(self.owner_token)

    async def add_member(
        self,
        email: str,
        role: str = "User",
        *,
        extra_roles: list[str] | None = None,
        status: str = "Active",
        badge: str | None = None,
        first_name: str = "",
        last_name: str = "",
    ) -> tuple[int, str]:
        """A member of ``role`` written directly, with an API token; (member id, token)."""
        gw = self.harness.gateway
        now = to_text(datetime.now(UTC))

        async def op(db: Any) -> int:
            cur = await db.execute(
                "INSERT INTO members (organisation_id, first_name, last_name, email, role,"
                " extra_roles, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (self.id, first_name or email.split("@")[0], last_name, email, role,
                 json.dumps(extra_roles or []), status, now, now),
            )  # fmt: skip
            return int(cur.lastrowid)

        member_id = await gw.db.write(op)
        if badge is not None:
            await gw.members.add_token(badge, member_id, datetime.now(UTC))
        token = ""
        if status == "Active":
            _, token = await gw.admin.members.create_api_token(
                Actor.command_line(self.id), "test", member_id
            )
        await gw.refresh_cache([member_id])
        return member_id, token


@pytest.fixture
async def admin_gw(start_gateway: StartGateway) -> Harness:
    return await start_gateway()


async def make_org(harness: Harness, name: str, owner_email: str) -> Org:
    org_id, owner_id, token = await harness.gateway.admin.members.create_organisation(
        name, owner_email, first_name="Olivia", last_name="Owner"
    )
    return Org(harness, org_id, owner_id, token)


@pytest.fixture
async def acme(admin_gw: Harness) -> AsyncIterator[Org]:
    org = await make_org(admin_gw, "Acme", "owner@acme.test")
    for station in (ACME_STATION, ACME_STATION_201):
        await admin_gw.gateway.stations.add(
            station, hash_password(ACME_PASSWORD, n=2**10), datetime.now(UTC),
            organisation_id=org.id,
        )  # fmt: skip
    await admin_gw.gateway.refresh_cache(None)
    yield org
    for client in org.clients:
        await client.aclose()


@pytest.fixture
async def globex(admin_gw: Harness) -> AsyncIterator[Org]:
    """A second organisation on the same gateway (isolation tests)."""
    org = await make_org(admin_gw, "Globex", "owner@globex.test")
    yield org
    for client in org.clients:
        await client.aclose()
