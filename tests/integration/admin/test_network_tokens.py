"""Tokens (badges) over the admin API against a real gateway: a block, a loss, a removal or
an expiry refuses the very next Authorize from real 1.6 and 2.0.1 chargers; values are
global and case-insensitive; roles, rank rules, isolation, bad input, audit."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import pytest

from simulators import ChargePoint16, ChargePoint201
from tests.integration.admin.conftest import ACME_PASSWORD, ACME_STATION, ACME_STATION_201, Org


@asynccontextmanager
async def chargers(org: Org) -> AsyncIterator[tuple[ChargePoint16, ChargePoint201]]:
    async with (
        ChargePoint16(ACME_STATION, url=org.harness.url, password=ACME_PASSWORD) as cp,
        ChargePoint201(ACME_STATION_201, url=org.harness.url, password=ACME_PASSWORD) as cs,
    ):
        await cp.boot()
        await cs.boot()
        yield cp, cs


async def statuses(cp: ChargePoint16, cs: ChargePoint201, badge: str) -> tuple[str, str]:
    """(1.6 status, 2.0.1 status) of an Authorize of ``badge`` on each charger."""
    return (
        (await cp.authorize(badge))["idTagInfo"]["status"],
        (await cs.authorize(badge))["idTokenInfo"]["status"],
    )


async def grant(org: Org, member_id: int, **overrides: bool) -> None:
    """Per-member permission overrides, written as the member edit would."""
    await org.harness.gateway.db.write(
        lambda db: db.execute(
            "UPDATE members SET permissions = ? WHERE id = ?", (json.dumps(overrides), member_id)
        )
    )


async def test_add_list_filter_and_read(acme: Org) -> None:
    ann, _ = await acme.add_member("ann@acme.test", first_name="Ann", last_name="Alpha")
    bob, _ = await acme.add_member("bob@acme.test", badge="BOB-1")
    owner = acme.owner
    added = await owner.post(
        "/tokens",
        json={
            "value": "04a2b3c4",
            "member_id": ann,
            "type": "ISO14443",
            "expires_at": "2030-01-01T00:00:00+01:00",
        },
    )
    assert added.status_code == 201, added.text
    assert added.json() | {"created_at": None} == {
        "value": "04a2b3c4",
        "type": "ISO14443",
        "status": "Active",
        "expires_at": "2029-12-31T23:00:00.000000Z",
        "member_id": ann,
        "member_email": "ann@acme.test",
        "member_name": "Ann Alpha",
        "created_at": None,
    }
    app = await owner.post(
        "/tokens", json={"value": "APP-ANN", "member_id": ann, "type": "Central"}
    )
    assert app.status_code == 201
    everything = (await owner.get("/tokens")).json()
    assert [t["value"] for t in everything] == ["04a2b3c4", "APP-ANN", "BOB-1"]
    mine = (await owner.get("/tokens", params={"member_id": ann})).json()
    assert {t["value"] for t in mine} == {"04a2b3c4", "APP-ANN"}
    await owner.post("/tokens/BOB-1/block")
    blocked = (await owner.get("/tokens", params={"status": "Blocked"})).json()
    assert [(t["value"], t["member_id"]) for t in blocked] == [("BOB-1", bob)]
    # OCPP compares idTokens case-insensitively, and so does the path.
    assert (await owner.get("/tokens/04A2B3C4")).json()["value"] == "04a2b3c4"
    member = (await owner.get(f"/members/{ann}")).json()
    assert {t["value"] for t in member["tokens"]} == {"04a2b3c4", "APP-ANN"}


async def test_block_refuses_the_very_next_authorize_on_real_chargers(acme: Org) -> None:
    member_id, _ = await acme.add_member("driver@acme.test")
    owner = acme.owner
    async with chargers(acme) as (cp, cs):
        assert (await cp.authorize("NEW-BADGE"))["idTagInfo"]["status"] == "Invalid"
        added = await owner.post("/tokens", json={"value": "NEW-BADGE", "member_id": member_id})
        assert added.status_code == 201
        # No waiting anywhere: each answer came after the cache was refreshed.
        assert await statuses(cp, cs, "NEW-BADGE") == ("Accepted", "Accepted")
        assert (await owner.post("/tokens/new-badge/block")).json()["status"] == "Blocked"
        assert await statuses(cp, cs, "NEW-BADGE") == ("Blocked", "Blocked")
        assert (await owner.post("/tokens/NEW-BADGE/unblock")).json()["status"] == "Active"
        assert await statuses(cp, cs, "NEW-BADGE") == ("Accepted", "Accepted")
        assert (await owner.post("/tokens/NEW-BADGE/lost")).json()["status"] == "Lost"
        assert await statuses(cp, cs, "NEW-BADGE") == ("Blocked", "Blocked")
        answer = await owner.patch("/tokens/NEW-BADGE", json={"status": "Active"})
        assert answer.json()["status"] == "Active"
        past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
        answer = await owner.patch("/tokens/NEW-BADGE", json={"expires_at": past})
        assert answer.status_code == 200 and answer.json()["expires_at"]
        assert await statuses(cp, cs, "NEW-BADGE") == ("Expired", "Expired")
        answer = await owner.patch("/tokens/NEW-BADGE", json={"expires_at": None})
        assert answer.json()["expires_at"] is None
        assert await statuses(cp, cs, "NEW-BADGE") == ("Accepted", "Accepted")
        assert (await owner.delete("/tokens/NEW-BADGE")).status_code == 204
        assert await statuses(cp, cs, "NEW-BADGE") == ("Invalid", "Unknown")
    rows = await acme.harness.db_rows("SELECT action, actor, before, after FROM audit_log")
    actions = [r["action"] for r in rows if r["action"].startswith("token.")]
    assert actions == [
        "token.add", "token.block", "token.unblock", "token.lost", "token.unblock",
        "token.update", "token.update", "token.remove",
    ]  # fmt: skip
    blocked = next(r for r in rows if r["action"] == "token.block")
    assert json.loads(blocked["before"])["status"] == "Active"
    assert json.loads(blocked["after"])["status"] == "Blocked"
    assert blocked["actor"] == f"member:{acme.owner_id}"


async def test_values_are_global_and_case_insensitive(acme: Org, globex: Org) -> None:
    await globex.add_member("g@globex.test", badge="GLOBEX-1")
    member_id, _ = await acme.add_member("driver@acme.test", badge="ACME-1")
    for value in ("globex-1", "GLOBEX-1", "acme-1"):
        answer = await acme.owner.post("/tokens", json={"value": value, "member_id": member_id})
        assert answer.status_code == 409, answer.text
        assert answer.json() == {"error": f"token {value} is already registered", "field": "value"}


async def test_roles_and_the_members_override(acme: Org) -> None:
    driver, _ = await acme.add_member("driver@acme.test", badge="DRIVER-1")
    _, admin = await acme.add_member("admin@acme.test", "Administrator")
    manager_id, manager = await acme.add_member("manager@acme.test", "Manager")
    _, user = await acme.add_member("user@acme.test")
    for n, token in enumerate((acme.owner_token, admin)):
        client = acme.client(token)
        value = f"ROLE-{n}"
        assert (await client.get("/tokens")).status_code == 200
        answer = await client.post("/tokens", json={"value": value, "member_id": driver})
        assert answer.status_code == 201, answer.text
        assert (await client.get(f"/tokens/{value}")).status_code == 200
        for action in ("block", "unblock", "lost"):
            assert (await client.post(f"/tokens/{value}/{action}")).status_code == 200
        assert (
            await client.patch(f"/tokens/{value}", json={"status": "Active"})
        ).status_code == 200
        assert (await client.delete(f"/tokens/{value}")).status_code == 204
    for token in (manager, user):
        client = acme.client(token)
        for method, path, body in (
            ("GET", "/tokens", None),
            ("GET", "/tokens/DRIVER-1", None),
            ("POST", "/tokens", {"value": "NOPE-1", "member_id": driver}),
            ("POST", "/tokens/DRIVER-1/block", None),
            ("PATCH", "/tokens/DRIVER-1", {"status": "Lost"}),
            ("DELETE", "/tokens/DRIVER-1", None),
        ):
            answer = await client.request(method, path, json=body)
            assert answer.status_code == 403, (method, path, answer.text)
            assert "members" in answer.json()["error"]
    await grant(acme, manager_id, members=True)
    client = acme.client(manager)
    assert (await client.post("/tokens/DRIVER-1/block")).status_code == 200
    answer = await client.post("/tokens", json={"value": "MGR-OWN", "member_id": manager_id})
    assert answer.status_code == 201  # your own badge
    # Never the badge of someone ranked at or above you.
    await acme.add_member("boss@acme.test", "Administrator", badge="BOSS-1")
    answer = await client.post("/tokens/BOSS-1/block")
    assert answer.status_code == 403 and "below yours" in answer.json()["error"]
    answer = await client.post("/tokens", json={"value": "FOR-OWNER", "member_id": acme.owner_id})
    assert answer.status_code == 403


async def test_another_organisations_tokens_and_members_are_not_found(
    acme: Org, globex: Org
) -> None:
    globex_member, _ = await globex.add_member("g@globex.test", badge="GLOBEX-1")
    owner = acme.owner
    for method, path, body in (
        ("GET", "/tokens/GLOBEX-1", None),
        ("POST", "/tokens/GLOBEX-1/block", None),
        ("PATCH", "/tokens/GLOBEX-1", {"status": "Lost"}),
        ("DELETE", "/tokens/GLOBEX-1", None),
        ("GET", f"/tokens?member_id={globex_member}", None),
    ):
        answer = await owner.request(method, path, json=body)
        assert answer.status_code == 404, (method, path, answer.text)
    answer = await owner.post("/tokens", json={"value": "X-1", "member_id": globex_member})
    assert answer.status_code == 404 and answer.json()["field"] == "member_id"
    assert (await owner.get("/tokens")).json() == []
    assert (await globex.owner.get("/tokens/GLOBEX-1")).json()["status"] == "Active"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"value": "has space", "member_id": 0}, "value"),
        ({"value": "a/b", "member_id": 0}, "value"),
        ({"value": "", "member_id": 0}, "value"),
        ({"value": "X" * 37, "member_id": 0}, "value"),
        ({"value": "\u00e9t\u00e9", "member_id": 0}, "value"),
        ({"value": "OK-1", "member_id": 0, "type": "Magic"}, "body.type"),
        ({"value": "OK-1", "member_id": 0, "expires_at": "2030-01-01T00:00:00"}, "body.expires_at"),
        ({"value": "OK-1", "member_id": 0, "expires_at": "soon"}, "body.expires_at"),
        ({"value": "OK-1"}, "body.member_id"),
        ({"value": "OK-1", "member_id": "me"}, "body.member_id"),
        ({"value": "OK-1", "member_id": 0, "status": "Active"}, "body.status"),
    ],
)
async def test_bad_input_is_4xx_naming_the_field(
    acme: Org, body: dict[str, object], field: str
) -> None:
    member_id, _ = await acme.add_member("driver@acme.test")
    if body.get("member_id") == 0:
        body = {**body, "member_id": member_id}
    answer = await acme.owner.post("/tokens", json=body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == field
    assert (await acme.owner.get("/tokens")).json() == []


async def test_more_bad_input(acme: Org) -> None:
    await acme.add_member("driver@acme.test", badge="DRIVER-1")
    owner = acme.owner
    answer = await owner.get("/tokens", params={"status": "Stolen"})
    assert answer.status_code == 422 and answer.json()["field"] == "query.status"
    answer = await owner.get("/tokens", params={"member_id": "x"})
    assert answer.status_code == 422 and answer.json()["field"] == "query.member_id"
    assert (await owner.get("/tokens", params={"member_id": 999})).status_code == 404
    answer = await owner.patch("/tokens/DRIVER-1", json={"status": None})
    assert answer.status_code == 422 and answer.json()["field"] == "status"
    answer = await owner.patch("/tokens/DRIVER-1", json={})
    assert answer.status_code == 422 and answer.json()["field"] == "status"
    answer = await owner.patch("/tokens/DRIVER-1", json={"status": "Gone"})
    assert answer.status_code == 422 and answer.json()["field"] == "body.status"
    answer = await owner.patch("/tokens/DRIVER-1", json={"expires_at": "2030-01-01T00:00:00"})
    assert answer.status_code == 422 and answer.json()["field"] == "body.expires_at"
    assert (await owner.post("/tokens/NOPE/block")).status_code == 404
    assert (await owner.delete("/tokens/NOPE")).status_code == 404
