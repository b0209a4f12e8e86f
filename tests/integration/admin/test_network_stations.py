"""Stations over the admin API against a real gateway: registration with a password shown
once, rotation refusing the old password at the next handshake, edits, removal, roles,
global station ids, cross-organisation isolation, bad input, no password hash anywhere."""

from __future__ import annotations

import pytest
from websockets.exceptions import InvalidStatus

from simulators import ChargePoint16, ChargePoint201
from tests.integration.admin.conftest import ACME_PASSWORD, ACME_STATION, ACME_STATION_201, Org


async def handshake_status(org: Org, station: str, password: str) -> int:
    """101 when the charger gets in, else the HTTP status it is refused with."""
    try:
        async with ChargePoint16(station, url=org.harness.url, password=password) as cp:
            assert (await cp.boot())["status"] == "Accepted"
    except InvalidStatus as refused:
        return refused.response.status_code
    return 101


async def no_password_hash_anywhere(org: Org, *answers: object) -> None:
    for answer in answers:
        assert "scrypt" not in str(answer) and "password_hash" not in str(answer)
    rows = await org.harness.db_rows("SELECT before, after FROM audit_log")
    assert rows and all("scrypt" not in str(r) and "password_hash" not in str(r) for r in rows)


async def test_register_shows_the_generated_password_once_and_the_charger_gets_in(
    acme: Org,
) -> None:
    created = await acme.owner.post(
        "/stations",
        json={"charge_point_id": "LYON-1", "site": "Lyon", "timezone": "Europe/Paris"},
    )
    assert created.status_code == 201, created.text
    body = created.json()
    credentials = body["credentials"]
    assert credentials["username"] == "LYON-1" and credentials["generated"] is True
    assert 16 <= len(credentials["password"]) <= 40
    assert body["station"]["site"] == "Lyon" and body["station"]["timezone"] == "Europe/Paris"
    assert body["station"]["tariff"] is None
    shown = (await acme.owner.get("/stations/LYON-1")).json()
    assert credentials["password"] not in str(shown)
    assert (await acme.owner.get("/sites")).json() == [{"id": 1, "name": "Lyon", "stations": 1}]
    assert await handshake_status(acme, "LYON-1", credentials["password"]) == 101
    listed = (await acme.owner.get("/stations")).json()
    assert [s["charge_point_id"] for s in listed] == [ACME_STATION, ACME_STATION_201, "LYON-1"]
    booted = next(s for s in listed if s["charge_point_id"] == "LYON-1")
    assert booted["accepted_once"] is True and booted["ocpp_version"] == "1.6"
    await no_password_hash_anywhere(acme, created.text, shown, listed)


async def test_a_given_password_and_a_tariff_override(acme: Org) -> None:
    created = await acme.owner.post(
        "/stations",
        json={
            "charge_point_id": "PARIS-1",
            "password": "sixteen-chars-ok",
            "tariff": {"price_per_kwh": "0.2999", "session_fee": 1},
        },
    )
    assert created.status_code == 201, created.text
    assert created.json()["credentials"] == {
        "charge_point_id": "PARIS-1",
        "username": "PARIS-1",
        "password": "sixteen-chars-ok",
        "generated": False,
    }
    tariff = created.json()["station"]["tariff"]
    assert tariff == {"price_per_kwh": "0.2999", "session_fee": "1.00", "currency": "EUR"}
    stored = await acme.harness.db_rows(
        "SELECT price_per_kwh, session_fee FROM stations WHERE charge_point_id = 'PARIS-1'"
    )
    assert stored == [{"price_per_kwh": "29.99", "session_fee": 100}]  # minor units
    assert await handshake_status(acme, "PARIS-1", "sixteen-chars-ok") == 101


async def test_rotation_refuses_the_old_password_at_the_next_handshake(acme: Org) -> None:
    async with ChargePoint201(ACME_STATION_201, url=acme.harness.url, password=ACME_PASSWORD) as cs:
        assert (await cs.boot())["status"] == "Accepted"
        rotated = await acme.owner.post(f"/stations/{ACME_STATION_201}/password")
        assert rotated.status_code == 200, rotated.text
        new_password = rotated.json()["password"]
        assert rotated.json()["generated"] is True and new_password != ACME_PASSWORD
        # The connection already open stays open (documented).
        assert (await cs.heartbeat())["currentTime"]
    assert await handshake_status(acme, ACME_STATION_201, ACME_PASSWORD) == 401
    assert await handshake_status(acme, ACME_STATION_201, new_password) == 101
    chosen = "a-password-chosen-by-me"
    answer = await acme.owner.post(
        f"/stations/{ACME_STATION_201}/password", json={"password": chosen}
    )
    assert answer.json()["password"] == chosen and answer.json()["generated"] is False
    assert await handshake_status(acme, ACME_STATION_201, new_password) == 401
    assert await handshake_status(acme, ACME_STATION_201, chosen) == 101
    rows = await acme.harness.db_rows(
        "SELECT action, actor, after FROM audit_log WHERE target_kind = 'station'"
    )
    assert [r["action"] for r in rows] == ["station.password", "station.password"]
    assert all(r["actor"] == f"member:{acme.owner_id}" for r in rows)
    await no_password_hash_anywhere(acme, rotated.text)
    assert new_password not in str(rows) and chosen not in str(rows)


async def test_edit_sets_and_clears_site_time_zone_and_tariff_with_audit(acme: Org) -> None:
    owner = acme.owner
    edited = await owner.patch(
        f"/stations/{ACME_STATION}",
        json={"site": "Depot", "timezone": "America/New_York", "tariff": {"price_per_kwh": 0.5}},
    )
    assert edited.status_code == 200, edited.text
    station = edited.json()
    assert station["site"] == "Depot" and station["timezone"] == "America/New_York"
    assert station["tariff"] == {"price_per_kwh": "0.50", "session_fee": "0.00", "currency": "EUR"}
    # Only what is given changes; null clears.
    cleared = (await owner.patch(f"/stations/{ACME_STATION}", json={"tariff": None})).json()
    assert cleared["tariff"] is None and cleared["site"] == "Depot"
    cleared = (await owner.patch(f"/stations/{ACME_STATION}", json={"site": None})).json()
    assert cleared["site"] is None and cleared["timezone"] == "America/New_York"
    rows = await acme.harness.db_rows(
        "SELECT action, before, after FROM audit_log WHERE target_id = ? ORDER BY id", ACME_STATION
    )
    assert [r["action"] for r in rows] == ["station.update"] * 3
    assert '"site": null' in rows[0]["before"] and '"site": "Depot"' in rows[0]["after"]
    await no_password_hash_anywhere(acme, edited.text)


async def test_remove_keeps_the_charger_out(acme: Org) -> None:
    assert await handshake_status(acme, ACME_STATION, ACME_PASSWORD) == 101
    answer = await acme.owner.delete(f"/stations/{ACME_STATION}")
    assert answer.status_code == 204
    assert (await acme.owner.get(f"/stations/{ACME_STATION}")).status_code == 404
    assert await handshake_status(acme, ACME_STATION, ACME_PASSWORD) == 404
    rows = await acme.harness.db_rows("SELECT action, before, after FROM audit_log")
    assert rows[-1]["action"] == "station.remove" and rows[-1]["after"] is None
    assert ACME_STATION in rows[-1]["before"]


async def test_roles_owner_administrator_manager_may_user_may_not(acme: Org) -> None:
    _, admin = await acme.add_member("admin@acme.test", "Administrator")
    _, manager = await acme.add_member("manager@acme.test", "Manager")
    _, user = await acme.add_member("user@acme.test")
    for n, token in enumerate((acme.owner_token, admin, manager)):
        client = acme.client(token)
        cpid = f"ROLE-{n}"
        assert (await client.get("/stations")).status_code == 200
        created = await client.post("/stations", json={"charge_point_id": cpid})
        assert created.status_code == 201, created.text
        assert (await client.patch(f"/stations/{cpid}", json={"site": "S"})).status_code == 200
        assert (await client.post(f"/stations/{cpid}/password")).status_code == 200
        assert (await client.delete(f"/stations/{cpid}")).status_code == 204
    # A Manager holds stations but not prices: no tariff override.
    refused = await acme.client(manager).patch(
        f"/stations/{ACME_STATION}", json={"tariff": {"price_per_kwh": "0.1"}}
    )
    assert refused.status_code == 403 and "prices" in refused.json()["error"]
    user_client = acme.client(user)
    for method, path, body in (
        ("GET", "/stations", None),
        ("GET", f"/stations/{ACME_STATION}", None),
        ("POST", "/stations", {"charge_point_id": "USER-1"}),
        ("PATCH", f"/stations/{ACME_STATION}", {"site": "S"}),
        ("POST", f"/stations/{ACME_STATION}/password", None),
        ("DELETE", f"/stations/{ACME_STATION}", None),
        ("GET", "/sites", None),
    ):
        answer = await user_client.request(method, path, json=body)
        assert answer.status_code == 403, (method, path, answer.text)
    assert (await acme.client(None).get("/stations")).status_code == 401


async def test_station_ids_are_global_and_other_organisations_stations_are_not_found(
    acme: Org, globex: Org
) -> None:
    taken = await globex.owner.post("/stations", json={"charge_point_id": ACME_STATION})
    assert taken.status_code == 409
    assert taken.json() == {
        "error": f"station {ACME_STATION} is already registered",
        "field": "charge_point_id",
    }
    assert (
        await acme.owner.post("/stations", json={"charge_point_id": ACME_STATION})
    ).status_code == 409
    for method, path, body in (
        ("GET", f"/stations/{ACME_STATION}", None),
        ("PATCH", f"/stations/{ACME_STATION}", {"site": "Stolen"}),
        ("POST", f"/stations/{ACME_STATION}/password", None),
        ("DELETE", f"/stations/{ACME_STATION}", None),
    ):
        answer = await globex.owner.request(method, path, json=body)
        assert answer.status_code == 404, (method, path, answer.text)
    assert (await globex.owner.get("/stations")).json() == []
    assert await handshake_status(acme, ACME_STATION, ACME_PASSWORD) == 101


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"charge_point_id": "has space"}, "charge_point_id"),
        ({"charge_point_id": "A" * 49}, "charge_point_id"),
        ({"charge_point_id": "OK-1", "password": "too-short"}, "password"),
        ({"charge_point_id": "OK-1", "password": "x" * 41}, "password"),
        ({"charge_point_id": "OK-1", "timezone": "Mars/Olympus"}, "timezone"),
        ({"charge_point_id": "OK-1", "timezone": "Europe"}, "timezone"),
        ({"charge_point_id": "OK-1", "site": "a/b"}, "site"),
        ({"charge_point_id": "OK-1", "site": "  "}, "site"),
        ({"charge_point_id": "OK-1", "tariff": {"price_per_kwh": "-1"}}, "tariff.price_per_kwh"),
        ({"charge_point_id": "OK-1", "tariff": {"price_per_kwh": "1e9"}}, "tariff.price_per_kwh"),
        (
            {"charge_point_id": "OK-1", "tariff": {"price_per_kwh": 0, "session_fee": "0.001"}},
            "tariff.session_fee",
        ),
        (
            {"charge_point_id": "OK-1", "tariff": {"price_per_kwh": "abc"}},
            "body.tariff.price_per_kwh",
        ),
        (
            {"charge_point_id": "OK-1", "tariff": {"price_per_kwh": "NaN"}},
            "body.tariff.price_per_kwh",
        ),
        ({"charge_point_id": "OK-1", "colour": "red"}, "body.colour"),
        ({"site": "Lyon"}, "body.charge_point_id"),
        ({"charge_point_id": 12}, "body.charge_point_id"),
    ],
)
async def test_bad_input_is_4xx_naming_the_field(acme: Org, body: object, field: str) -> None:
    answer = await acme.owner.post("/stations", json=body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == field
    assert (await acme.owner.get("/stations/OK-1")).status_code == 404


async def test_more_bad_input(acme: Org) -> None:
    owner = acme.owner
    answer = await owner.post(
        "/stations", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert answer.status_code == 422
    answer = await owner.patch(f"/stations/{ACME_STATION}", json={"timezone": "Nowhere/Land"})
    assert answer.status_code == 422 and answer.json()["field"] == "timezone"
    answer = await owner.post(f"/stations/{ACME_STATION}/password", json={"password": "short"})
    assert answer.status_code == 422 and answer.json()["field"] == "password"
    assert (await owner.patch("/stations/NOPE", json={"site": "x"})).status_code == 404
    assert (await owner.post("/stations/NOPE/password")).status_code == 404
    assert (await owner.delete("/stations/NOPE")).status_code == 404


async def test_the_routes_are_in_the_openapi_document(acme: Org) -> None:
    document = (await acme.client(None).get(f"{acme.harness.http}/openapi.json")).json()
    paths = document["paths"]
    for path in (
        "/api/v1/stations", "/api/v1/stations/{charge_point_id}/password", "/api/v1/sites",
        "/api/v1/tokens/{value}/block", "/api/v1/groups/{group}", "/api/v1/organisation",
        "/api/v1/policies/members/{member_id}", "/api/v1/explain",
    ):  # fmt: skip
        assert path in paths, path
    # The policy body is documented field by field.
    put = paths["/api/v1/policies/organisation"]["put"]["requestBody"]
    assert "PolicySpec" in str(put)


async def test_the_list_shows_which_stations_are_connected_now(acme: Org) -> None:
    async with ChargePoint16(ACME_STATION, url=acme.harness.url, password=ACME_PASSWORD) as cp:
        await cp.boot()
        listed = {
            s["charge_point_id"]: s["connected"] for s in (await acme.owner.get("/stations")).json()
        }
        assert listed == {ACME_STATION: True, ACME_STATION_201: False}
        one = (await acme.owner.get(f"/stations/{ACME_STATION}")).json()
        assert one["connected"] is True
