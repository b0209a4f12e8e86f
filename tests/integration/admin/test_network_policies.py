"""Groups, organisation settings, usage policies and explain over the admin API against a
real gateway: a policy set through the API decides the very next Authorize of real 1.6 and
2.0.1 chargers, explain says the same as the CLI, roles, isolation, bad input, audit."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gateway.members.policy_spec import PolicySpec
from simulators import ChargePoint16, ChargePoint201
from tests.conftest import run_cli
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
    return (
        (await cp.authorize(badge))["idTagInfo"]["status"],
        (await cs.authorize(badge))["idTokenInfo"]["status"],
    )


def closed_now() -> dict[str, Any]:
    """Allowed hours every day that exclude the present (the organisation's zone is UTC)."""
    now = datetime.now(UTC)
    start, end = now + timedelta(hours=2), now + timedelta(hours=3)
    days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    return {"hours": [{"days": days, "start": f"{start:%H:%M}", "end": f"{end:%H:%M}"}]}


def stored(body: dict[str, Any]) -> dict[str, Any]:
    """A policy as the API answers it: validated, times with seconds, defaults left out."""
    spec = PolicySpec.model_validate(body)
    return spec.model_dump(mode="json", exclude_none=True, exclude_defaults=True)


async def join(org: Org, member_id: int, group: str) -> None:
    """Put a member in a group as the member edit would (not part of these routes)."""
    gw = org.harness.gateway
    group_id = await gw.policies.group_id(org.id, group)
    assert group_id is not None
    await gw.policies.add_to_group(member_id, group_id)
    await gw.refresh_cache([member_id])


async def grant(org: Org, member_id: int, **overrides: bool) -> None:
    await org.harness.gateway.db.write(
        lambda db: db.execute(
            "UPDATE members SET permissions = ? WHERE id = ?", (json.dumps(overrides), member_id)
        )
    )


# -- policies reaching real chargers --------------------------------------------------------


async def test_an_organisation_policy_decides_the_next_authorize(acme: Org) -> None:
    await acme.add_member("driver@acme.test", badge="DRIVER-1")
    owner = acme.owner
    async with chargers(acme) as (cp, cs):
        assert await statuses(cp, cs, "DRIVER-1") == ("Accepted", "Accepted")
        answer = await owner.put("/policies/organisation", json=closed_now())
        assert answer.status_code == 200, answer.text
        assert answer.json()["policy"] == stored(closed_now())
        # README decision table: outside the allowed hours is 2.0.1 NotAtThisTime, 1.6 Invalid.
        assert await statuses(cp, cs, "DRIVER-1") == ("Invalid", "NotAtThisTime")
        assert (await owner.delete("/policies/organisation")).status_code == 204
        assert await statuses(cp, cs, "DRIVER-1") == ("Accepted", "Accepted")
        assert (await owner.get("/policies/organisation")).json()["policy"] is None
        assert (await owner.delete("/policies/organisation")).status_code == 404


async def test_group_and_member_policies_combine_most_specific_first(acme: Org) -> None:
    driver, _ = await acme.add_member("driver@acme.test", badge="DRIVER-1")
    await acme.add_member("other@acme.test", badge="OTHER-1")
    owner = acme.owner
    assert (await owner.post("/groups", json={"name": "night"})).status_code == 201
    await join(acme, driver, "night")
    async with chargers(acme) as (cp, cs):
        answer = await owner.put("/policies/groups/night", json=closed_now())
        assert answer.status_code == 200 and answer.json()["target"] == "group night"
        assert await statuses(cp, cs, "DRIVER-1") == ("Invalid", "NotAtThisTime")
        assert await statuses(cp, cs, "OTHER-1") == ("Accepted", "Accepted")
        # A member's own policy is an exception to the group's: here, any hour.
        everyday = {"hours": [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                               "start": "00:00", "end": "00:00"}]}  # fmt: skip
        answer = await owner.put(f"/policies/members/{driver}", json=everyday)
        assert answer.status_code == 200, answer.text
        assert await statuses(cp, cs, "DRIVER-1") == ("Accepted", "Accepted")
        # A station rule: this member may only charge at the 2.0.1 station.
        answer = await owner.put(
            f"/policies/members/{driver}", json={"stations": [ACME_STATION_201]}
        )
        assert answer.status_code == 200
        assert await statuses(cp, cs, "DRIVER-1") == ("Invalid", "NotAtThisTime")  # hours again
        await owner.delete("/policies/groups/night")
        assert await statuses(cp, cs, "DRIVER-1") == ("Invalid", "Accepted")
        # Deleting the group drops its memberships and its policy.
        await owner.put("/policies/groups/night", json=closed_now())
        await owner.delete(f"/policies/members/{driver}")
        assert await statuses(cp, cs, "DRIVER-1") == ("Invalid", "NotAtThisTime")
        assert (await owner.delete("/groups/night")).status_code == 204
        assert await statuses(cp, cs, "DRIVER-1") == ("Accepted", "Accepted")
    listed = (await owner.get("/policies")).json()
    assert listed == []
    rows = await acme.harness.db_rows("SELECT action, target_id, before, after FROM audit_log")
    actions = [r["action"] for r in rows if r["action"].startswith(("policy.", "group."))]
    assert actions == [
        "group.create", "policy.set", "policy.set", "policy.set", "policy.clear", "policy.set",
        "policy.clear", "group.delete",
    ]  # fmt: skip
    deleted = json.loads(rows[-1]["before"])
    assert deleted["name"] == "night" and deleted["members"] == [driver]
    assert deleted["policy"] == stored(closed_now())


async def test_list_policies_most_general_first(acme: Org) -> None:
    driver, _ = await acme.add_member("driver@acme.test")
    owner = acme.owner
    await owner.post("/groups", json={"name": "fleet"})
    await owner.put(f"/policies/members/{driver}", json={"max_concurrent": 1})
    await owner.put(
        "/policies/groups/fleet", json={"session_caps": [{"limit": 3, "period": "day"}]}
    )
    await owner.put(
        "/policies/organisation", json={"amount_caps": [{"limit": "40.00", "period": "month"}]}
    )
    listed = (await owner.get("/policies")).json()
    assert [(p["scope"], p["target"]) for p in listed] == [
        ("organisation", "organisation"),
        ("group", "group fleet"),
        ("member", f"member {driver} (driver@acme.test)"),
    ]
    assert listed[0]["policy"] == {"amount_caps": [{"limit": "40.00", "period": "month"}]}
    groups = (await owner.get("/groups")).json()
    assert groups == [{"id": groups[0]["id"], "name": "fleet", "members": 0,
                       "policy": {"session_caps": [{"limit": "3", "period": "day"}]}}]  # fmt: skip


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            {"hours": [{"days": ["someday"], "start": "07:00", "end": "19:00"}]},
            "body.hours.0.days.0",
        ),
        ({"hours": [{"days": ["mon"], "start": "25:00", "end": "19:00"}]}, "body.hours.0.start"),
        ({"amount_caps": [{"limit": -1, "period": "month"}]}, "body.amount_caps.0.limit"),
        ({"session_caps": [{"limit": 1, "period": "fortnight"}]}, "body.session_caps.0.period"),
        ({"max_concurrent": 0}, "body.max_concurrent"),
        ({"valid_from": "2026-01-01T00:00:00"}, "body.valid_from"),
        ({"colour": "red"}, "body.colour"),
        ({"sites": ["Atlantis"]}, "sites"),
        ({"stations": ["NOT-OURS"]}, "stations"),
    ],
)
async def test_a_bad_policy_is_422_naming_the_field(
    acme: Org, body: dict[str, Any], field: str
) -> None:
    answer = await acme.owner.put("/policies/organisation", json=body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == field
    assert (await acme.owner.get("/policies")).json() == []


async def test_policy_targets_must_exist_in_your_organisation(acme: Org, globex: Org) -> None:
    globex_member, _ = await globex.add_member("g@globex.test")
    await globex.owner.post("/groups", json={"name": "globex-only"})
    owner = acme.owner
    for method in ("GET", "PUT", "DELETE"):
        for path in (f"/policies/members/{globex_member}", "/policies/groups/globex-only"):
            answer = await owner.request(method, path, json={} if method == "PUT" else None)
            assert answer.status_code == 404, (method, path, answer.text)
    answer = await owner.put("/policies/members/abc", json={})
    assert answer.status_code == 422 and answer.json()["field"] == "path.member_id"
    # Another organisation's stations are unknown to a policy too.
    answer = await globex.owner.put("/policies/organisation", json={"stations": [ACME_STATION]})
    assert answer.status_code == 422 and answer.json()["field"] == "stations"


async def test_policy_roles(acme: Org) -> None:
    driver, _ = await acme.add_member("driver@acme.test")
    _, admin = await acme.add_member("admin@acme.test", "Administrator")
    manager_id, manager = await acme.add_member("manager@acme.test", "Manager")
    _, user = await acme.add_member("user@acme.test")
    await acme.owner.post("/groups", json={"name": "g"})
    paths = ("/policies/organisation", "/policies/groups/g", f"/policies/members/{driver}")
    for token in (acme.owner_token, admin):
        client = acme.client(token)
        assert (await client.get("/policies")).status_code == 200
        for path in paths:
            assert (await client.put(path, json={"max_concurrent": 2})).status_code == 200
            assert (await client.get(path)).json()["policy"] == {"max_concurrent": 2}
            assert (await client.delete(path)).status_code == 204
    for token in (manager, user):
        client = acme.client(token)
        assert (await client.get("/policies")).status_code == 403
        for path in paths:
            for method in ("GET", "PUT", "DELETE"):
                answer = await client.request(method, path, json={} if method == "PUT" else None)
                assert answer.status_code == 403, (method, path)
    await grant(acme, manager_id, members=True)
    client = acme.client(manager)
    answer = await client.put(f"/policies/members/{driver}", json={"max_concurrent": 1})
    assert answer.status_code == 200
    # A member's own policy is an edit of that member: not yourself, not someone above you.
    for target in (manager_id, acme.owner_id):
        answer = await client.put(f"/policies/members/{target}", json={})
        assert answer.status_code == 403, answer.text


# -- groups and organisation ----------------------------------------------------------------


async def test_groups_create_rename_delete_and_roles(acme: Org, globex: Org) -> None:
    _, manager = await acme.add_member("manager@acme.test", "Manager")
    owner = acme.owner
    created = await owner.post("/groups", json={"name": "  commuters "})
    assert created.status_code == 201 and created.json()["name"] == "commuters"
    assert (await owner.post("/groups", json={"name": "commuters"})).status_code == 409
    await owner.post("/groups", json={"name": "night"})
    answer = await owner.patch("/groups/commuters", json={"name": "night"})
    assert answer.status_code == 409 and answer.json()["field"] == "name"
    renamed = await owner.patch("/groups/commuters", json={"name": "day"})
    assert renamed.status_code == 200 and renamed.json()["id"] == created.json()["id"]
    assert [g["name"] for g in (await owner.get("/groups")).json()] == ["day", "night"]
    assert (await owner.delete("/groups/night")).status_code == 204
    assert (await owner.delete("/groups/night")).status_code == 404
    assert (await owner.patch("/groups/night", json={"name": "x"})).status_code == 404
    for body, field in (({"name": ""}, "name"), ({"name": "a/b"}, "name"), ({}, "body.name")):
        answer = await owner.post("/groups", json=body)
        assert answer.status_code == 422 and answer.json()["field"] == field
    client = acme.client(manager)
    for method, path, body in (
        ("GET", "/groups", None),
        ("POST", "/groups", {"name": "m"}),
        ("PATCH", "/groups/day", {"name": "m"}),
        ("DELETE", "/groups/day", None),
    ):
        assert (await client.request(method, path, json=body)).status_code == 403
    assert (await globex.owner.get("/groups")).json() == []
    assert (await globex.owner.delete("/groups/day")).status_code == 404
    assert (await globex.owner.post("/groups", json={"name": "day"})).status_code == 201


async def test_organisation_settings(acme: Org, globex: Org) -> None:
    manager_id, manager = await acme.add_member("manager@acme.test", "Manager")
    _, user = await acme.add_member("user@acme.test")
    shown = (await acme.client(user).get("/organisation")).json()
    assert shown | {"created_at": None} == {
        "id": acme.id, "name": "Acme", "timezone": "UTC", "currency": "EUR",
        "price_per_kwh": "0.00", "session_fee": "0.00", "enforcement": "enforce",
        "group_token": None, "token_type_match": "value", "created_at": None,
    }  # fmt: skip
    changed = await acme.owner.patch(
        "/organisation",
        json={
            "timezone": "Europe/Paris",
            "price_per_kwh": "0.30",
            "session_fee": 0.5,
            "enforcement": "observe",
            "group_token": "ACME-GROUP",
            "token_type_match": "strict",
        },
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["timezone"] == "Europe/Paris"
    assert changed.json()["price_per_kwh"] == "0.30" and changed.json()["session_fee"] == "0.50"
    assert changed.json()["enforcement"] == "observe"
    assert changed.json()["token_type_match"] == "strict"
    assert (await globex.owner.get("/organisation")).json()["timezone"] == "UTC"
    await acme.add_member("driver@acme.test", badge="DRIVER-1")
    async with ChargePoint16(ACME_STATION, url=acme.harness.url, password=ACME_PASSWORD) as cp:
        await cp.boot()
        assert (await cp.authorize("DRIVER-1"))["idTagInfo"]["parentIdTag"] == "ACME-GROUP"
    # A Manager may do none of it; with the prices override, the tariff only.
    client = acme.client(manager)
    assert (await client.patch("/organisation", json={"timezone": "UTC"})).status_code == 403
    assert (await client.patch("/organisation", json={"session_fee": 1})).status_code == 403
    await grant(acme, manager_id, prices=True)
    assert (await client.patch("/organisation", json={"session_fee": 1})).status_code == 200
    assert (await client.patch("/organisation", json={"enforcement": "enforce"})).status_code == 403
    denied = await client.patch("/organisation", json={"token_type_match": "value"})
    assert denied.status_code == 403
    assert (
        await acme.client(user).patch("/organisation", json={"currency": "USD"})
    ).status_code == 403
    rows = await acme.harness.db_rows(
        "SELECT action, before, after FROM audit_log WHERE action = 'organisation.update'"
    )
    assert len(rows) == 2
    assert '"timezone": "UTC"' in rows[0]["before"]
    assert '"timezone": "Europe/Paris"' in rows[0]["after"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"timezone": "Paris"}, "timezone"),
        ({"timezone": None}, "timezone"),
        ({"currency": "euro"}, "currency"),
        ({"price_per_kwh": -0.1}, "price_per_kwh"),
        ({"price_per_kwh": "cheap"}, "body.price_per_kwh"),
        ({"session_fee": "0.123"}, "session_fee"),
        ({"enforcement": "maybe"}, "body.enforcement"),
        ({"token_type_match": "loose"}, "body.token_type_match"),
        ({"token_type_match": None}, "token_type_match"),
        ({"group_token": "has space"}, "group_token"),
        ({"group_token": "G" * 21}, "group_token"),
        ({"name": "Renamed"}, "body.name"),
    ],
)
async def test_bad_organisation_settings_are_422_naming_the_field(
    acme: Org, body: dict[str, Any], field: str
) -> None:
    answer = await acme.owner.patch("/organisation", json=body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == field


# -- explain --------------------------------------------------------------------------------


async def test_explain_matches_the_cli_and_every_rule_is_listed(acme: Org) -> None:
    await acme.add_member("driver@acme.test", badge="DRIVER-1")
    await acme.owner.put("/policies/organisation", json=closed_now() | {"max_concurrent": 1})
    at = datetime.now(UTC).replace(microsecond=0)
    answer = await acme.owner.get(
        "/explain", params={"token": "driver-1", "station": ACME_STATION, "at": at.isoformat()}
    )
    assert answer.status_code == 200, answer.text
    explained = answer.json()
    assert explained["status"] == "NotAtThisTime"
    assert (explained["ocpp201_status"], explained["ocpp16_status"]) == ("NotAtThisTime", "Invalid")
    assert explained["reason"]["rule"] == "policy.hours"
    rules = [(c["rule"], c["passed"]) for c in explained["checks"]]
    assert rules[0] == ("token.known", True) and rules[-1] == ("policy.hours", False)
    database = acme.harness.gateway.settings.database.path
    code, out, err = await run_cli(
        database,
        "explain",
        "--token",
        "driver-1",
        "--station",
        ACME_STATION,
        "--at",
        at.isoformat(),
    )
    assert code == 0, err
    assert out.splitlines()[1:] == explained["text"].splitlines()


async def test_explain_permissions_isolation_and_bad_input(acme: Org, globex: Org) -> None:
    await acme.add_member("driver@acme.test", badge="DRIVER-1")
    await globex.add_member("g@globex.test", badge="GLOBEX-1")
    await globex.owner.post("/stations", json={"charge_point_id": "GLOBEX-CP"})
    _, manager = await acme.add_member("manager@acme.test", "Manager")
    _, user = await acme.add_member("user@acme.test")
    query = {"token": "DRIVER-1", "station": ACME_STATION}
    accepted = (await acme.client(manager).get("/explain", params=query)).json()  # statistics
    assert accepted["status"] == "Accepted" and accepted["reason"]["rule"] == "accepted"
    assert (await acme.client(user).get("/explain", params=query)).status_code == 403
    for params, field in (
        ({"token": "GLOBEX-1", "station": ACME_STATION}, "token"),
        ({"token": "UNKNOWN", "station": ACME_STATION}, "token"),
        ({"token": "DRIVER-1", "station": "GLOBEX-CP"}, "station"),
    ):
        answer = await acme.owner.get("/explain", params=params)
        assert answer.status_code == 404 and answer.json()["field"] == field, answer.text
    for params, field in (
        (query | {"at": "2026-01-01T00:00:00"}, "query.at"),
        (query | {"at": "yesterday"}, "query.at"),
        (query | {"token_type": "Magic"}, "token_type"),
        ({"station": ACME_STATION}, "query.token"),
    ):
        answer = await acme.owner.get("/explain", params=params)
        assert answer.status_code == 422 and answer.json()["field"] == field, answer.text
    typed = await acme.owner.get("/explain", params=query | {"token_type": "eMAID"})
    assert typed.json()["status"] == "Accepted"  # stored as ISO14443: matched by value
    first = typed.json()["checks"][0]
    assert (first["rule"], first["limit"], first["value"]) == ("token.known", "ISO14443", "eMAID")
    strict = await acme.owner.patch("/organisation", json={"token_type_match": "strict"})
    assert strict.status_code == 200, strict.text
    typed = await acme.owner.get("/explain", params=query | {"token_type": "eMAID"})
    assert typed.json()["status"] == "Unknown"


async def test_explain_counts_usage_at_other_stations_as_the_cli_does(acme: Org) -> None:
    """Explain reads only the rows one decision needs: a session at another station, at that
    station's own tariff, still counts against the member's amount cap."""
    driver, _ = await acme.add_member("driver@acme.test", badge="DRIVER-1")
    owner = acme.owner
    tariff = {"tariff": {"price_per_kwh": "1.00"}}
    assert (await owner.patch(f"/stations/{ACME_STATION}", json=tariff)).status_code == 200
    started = datetime.now(UTC) - timedelta(minutes=5)
    stamp = started.isoformat()
    await acme.harness.gateway.db.write(
        lambda db: db.execute(
            "INSERT INTO transactions (charge_point_id, ocpp_version, member_id, id_token, state,"
            " started_at, ended_at, energy_wh, created_at, updated_at)"
            " VALUES (?, '1.6', ?, 'DRIVER-1', 'Ended', ?, ?, 10000, ?, ?)",
            (ACME_STATION, driver, stamp, stamp, stamp, stamp),
        )
    )
    cap = {"amount_caps": [{"limit": "5.00", "period": "rolling:7"}]}
    assert (await owner.put(f"/policies/members/{driver}", json=cap)).status_code == 200
    query = {"token": "DRIVER-1", "station": ACME_STATION_201}
    explained = (await owner.get("/explain", params=query)).json()
    assert explained["status"] == "NoCredit", explained["text"]
    assert explained["reason"]["rule"] == "cap.amount"
    database = acme.harness.gateway.settings.database.path
    at = explained["at"]
    again = (await owner.get("/explain", params=query | {"at": at})).json()
    code, out, err = await run_cli(
        database, "explain", "--token", "DRIVER-1", "--station", ACME_STATION_201, "--at", at
    )
    assert code == 0, err
    assert out.splitlines()[1:] == again["text"].splitlines()
