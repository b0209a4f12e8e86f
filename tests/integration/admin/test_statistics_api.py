"""Statistics over real HTTP against a real gateway, from sessions that real simulated chargers
(OCPP 1.6 and 2.0.1) reported: per member, per organisation, per station, CSV downloads, the
organisation's time zone at the period's edges, who may read what, isolation."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest

from gateway.store.policies import PolicyStore
from simulators import ChargePoint16, ChargePoint201
from tests.conftest import run_cli
from tests.integration.admin.conftest import ACME_PASSWORD, ACME_STATION, ACME_STATION_201, Org

OCTOBER = {"since": "2026-10-01", "until": "2026-10-31"}
PRICE, FEE = 30, 50  # minor units per kWh, per session


def cost(energy_wh: int) -> int:
    kwh = Decimal(energy_wh) * PRICE / 1000
    return int(kwh.quantize(Decimal(1), ROUND_HALF_UP)) + FEE


class Fleet:
    """Acme's members and what their chargers reported (Wh per session)."""

    ann: int
    bob: int
    ann_token: str
    bob_token: str


@pytest.fixture
async def fleet(acme: Org) -> Fleet:
    gw = acme.harness.gateway
    await PolicyStore(gw.db).update_organisation(
        acme.id, timezone="Europe/Paris", price_per_kwh=str(PRICE), session_fee=FEE
    )
    await gw.refresh_cache(None)
    found = Fleet()
    found.ann, found.ann_token = await acme.add_member(
        "ann@acme.test", badge="ANN-1", first_name="Ann", last_name="Alpha"
    )
    found.bob, found.bob_token = await acme.add_member(
        "bob@acme.test", "Manager", badge="BOB-1", first_name="Bob", last_name="Beta"
    )
    await acme.add_member("cy@acme.test", first_name="Cy", last_name="Gamma")  # never charges
    async with (
        ChargePoint16(ACME_STATION, url=acme.harness.url, password=ACME_PASSWORD) as cp,
        ChargePoint201(ACME_STATION_201, url=acme.harness.url, password=ACME_PASSWORD) as cs,
    ):
        await cp.boot()
        await cs.boot()
        # 00:30 on 1 October in Paris: in October there, in September in UTC.
        tx = await cp.start_transaction(1, "ANN-1", 0, timestamp="2026-09-30T22:30:00Z")
        await cp.stop_transaction(tx["transactionId"], 2000, timestamp="2026-09-30T23:30:00Z")
        # 23:30 on 30 September in Paris: not in October.
        tx = await cp.start_transaction(1, "ANN-1", 0, timestamp="2026-09-30T21:30:00Z")
        await cp.stop_transaction(tx["transactionId"], 900, timestamp="2026-09-30T21:50:00Z")
        tx = await cp.start_transaction(1, "ANN-1", 1000, timestamp="2026-10-05T08:00:00Z")
        await cp.meter_values(1, transaction_id=tx["transactionId"], energy_wh=4000)
        await cp.stop_transaction(tx["transactionId"], 8500, timestamp="2026-10-05T09:00:00Z")
        tx = await cp.start_transaction(2, "BOB-1", 0, timestamp="2026-10-06T08:00:00Z")
        await cp.stop_transaction(tx["transactionId"], 12000, timestamp="2026-10-06T10:00:00Z")
        tx = await cp.start_transaction(2, "NOBODY", 0, timestamp="2026-10-07T08:00:00Z")
        await cp.stop_transaction(tx["transactionId"], 1000, timestamp="2026-10-07T08:10:00Z")
        uid, _ = await cs.start_transaction("ANN-1", meter_wh=100, timestamp="2026-10-14T08:00:00Z")
        await cs.update_transaction(uid, 2000, timestamp="2026-10-14T08:30:00Z")
        await cs.end_transaction(uid, 5100, timestamp="2026-10-14T09:00:00Z")
    return found


async def test_member_figures_equal_what_the_chargers_reported(acme: Org, fleet: Fleet) -> None:
    answer = await acme.owner.get("/statistics/members", params=OCTOBER)
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["period"]["since"] == "2026-09-30T22:00:00.000000Z"  # midnight in Paris
    assert report["period"]["until"] == "2026-10-31T23:00:00.000000Z"  # 31 Oct included (CET)
    items = {m["email"]: m for m in report["items"]}
    assert report["total"] == 4 and set(items) == {
        "ann@acme.test", "bob@acme.test", "cy@acme.test", "owner@acme.test",
    }  # fmt: skip
    ann = items["ann@acme.test"]
    assert ann["sessions"] == 3
    assert ann["energy_wh"] == 2000 + 7500 + 5000 and ann["energy_kwh"] == 14.5
    assert ann["cost"] == cost(2000) + cost(7500) + cost(5000)
    assert ann["currency"] == "EUR"
    assert ann["stations"] == [ACME_STATION, ACME_STATION_201] and ann["stations_used"] == 2
    assert ann["sessions_per_week"] == round(3 / (31 / 7), 2)
    bob = items["bob@acme.test"]
    assert (bob["sessions"], bob["energy_wh"], bob["cost"]) == (1, 12000, cost(12000))
    assert items["cy@acme.test"]["sessions"] == 0 and items["cy@acme.test"]["stations"] == []
    one = (await acme.owner.get(f"/statistics/members/{fleet.ann}", params=OCTOBER)).json()
    assert one["sessions"] == 3 and one["energy_wh"] == 14500
    assert one["by_week"] == [  # ISO weeks: Thursday 1 October is in week 40
        {"week": "2026-W40", "sessions": 1, "energy_kwh": 2.0, "cost": cost(2000)},
        {"week": "2026-W41", "sessions": 1, "energy_kwh": 7.5, "cost": cost(7500)},
        {"week": "2026-W42", "sessions": 1, "energy_kwh": 5.0, "cost": cost(5000)},
    ]


async def test_organisation_and_station_figures(acme: Org, fleet: Fleet) -> None:
    org = (await acme.owner.get("/statistics/organisation", params=OCTOBER)).json()
    assert org["organisation"] == "Acme"
    assert (org["sessions"], org["energy_wh"]) == (4, 2000 + 7500 + 12000 + 5000)
    assert org["cost"] == cost(2000) + cost(7500) + cost(12000) + cost(5000)
    assert org["members_charging"] == 2
    assert org["stations"] == [ACME_STATION, ACME_STATION_201]
    assert [(w["week"], w["sessions"]) for w in org["by_week"]] == [
        ("2026-W40", 1), ("2026-W41", 2), ("2026-W42", 1),
    ]  # fmt: skip
    stations = (await acme.owner.get("/statistics/stations", params=OCTOBER)).json()["items"]
    by_id = {s["charge_point_id"]: s for s in stations}
    cp = by_id[ACME_STATION]
    assert (cp["sessions"], cp["energy_wh"], cp["members"]) == (4, 2000 + 7500 + 12000 + 1000, 2)
    assert cp["unidentified_sessions"] == 1
    assert by_id[ACME_STATION_201]["sessions"] == 1
    assert by_id[ACME_STATION_201]["energy_wh"] == 5000
    one = (await acme.owner.get(f"/statistics/stations/{ACME_STATION_201}", params=OCTOBER)).json()
    assert one["by_week"] == [{"week": "2026-W42", "sessions": 1, "energy_kwh": 5.0, "cost": 200}]


async def test_reports_download_as_csv(acme: Org, fleet: Fleet) -> None:
    answer = await acme.owner.get("/statistics/members", params={**OCTOBER, "format": "csv"})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in answer.headers["content-disposition"]
    rows = {r["email"]: r for r in csv.DictReader(io.StringIO(answer.text))}
    assert rows["ann@acme.test"]["energy_kwh"] == "14.5"
    assert rows["ann@acme.test"]["stations"] == f"{ACME_STATION};{ACME_STATION_201}"
    assert rows["bob@acme.test"]["cost"] == str(cost(12000))
    for path in (
        "/statistics/organisation",
        "/statistics/stations",
        f"/statistics/members/{fleet.bob}",
    ):
        answer = await acme.owner.get(path, params={**OCTOBER, "format": "csv"})
        assert answer.status_code == 200 and len(answer.text.splitlines()) >= 2, path
    org = next(csv.DictReader(io.StringIO(
        (await acme.owner.get("/statistics/organisation", params={**OCTOBER, "format": "csv"})).text
    )))  # fmt: skip
    assert org["sessions"] == "4" and org["currency"] == "EUR"


async def test_the_default_period_is_the_current_month(acme: Org) -> None:
    await acme.add_member("now@acme.test", badge="NOW-1")
    now = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    async with ChargePoint16(ACME_STATION, url=acme.harness.url, password=ACME_PASSWORD) as cp:
        await cp.boot()
        tx = await cp.start_transaction(1, "NOW-1", 0, timestamp=now)
        await cp.meter_values(1, transaction_id=tx["transactionId"], energy_wh=700)
    report = (await acme.owner.get("/statistics/organisation")).json()
    assert report["period"]["since"][:8] <= now[:8]
    assert report["sessions"] == 1 and report["energy_wh"] == 700  # an open session so far


async def test_a_user_reads_only_their_own_statistics(acme: Org, fleet: Fleet) -> None:
    user = acme.client(fleet.ann_token)
    own = await user.get(f"/statistics/members/{fleet.ann}", params=OCTOBER)
    assert own.status_code == 200 and own.json()["sessions"] == 3
    for path in (
        f"/statistics/members/{fleet.bob}",
        "/statistics/members",
        "/statistics/organisation",
        "/statistics/stations",
    ):
        assert (await user.get(path)).status_code == 403, path
    manager = acme.client(fleet.bob_token)  # a Manager holds the statistics permission
    assert (await manager.get("/statistics/members", params=OCTOBER)).status_code == 200
    assert (await acme.client(None).get("/statistics/organisation")).status_code == 401


async def test_another_organisations_members_and_stations_are_not_found(
    acme: Org, globex: Org, fleet: Fleet
) -> None:
    for path in (f"/statistics/members/{fleet.ann}", f"/statistics/stations/{ACME_STATION}"):
        answer = await globex.owner.get(path)
        assert answer.status_code == 404, path
    report = (await globex.owner.get("/statistics/organisation", params=OCTOBER)).json()
    assert report["sessions"] == 0 and report["stations"] == []
    assert (await globex.owner.get("/statistics/stations")).json()["items"] == []
    listed = (await globex.owner.get("/statistics/members", params=OCTOBER)).json()["items"]
    assert [m["email"] for m in listed] == ["owner@globex.test"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "yesterday"}, "query.since"),
        ({"until": "2026-13-01"}, "query.until"),
        ({"since": "2026-10-10", "until": "2026-10-01"}, "since"),
        ({"format": "pdf"}, "query.format"),
    ],
)
async def test_bad_periods_get_422_naming_the_field(
    acme: Org, params: dict[str, Any], field: str
) -> None:
    answer = await acme.owner.get("/statistics/organisation", params=params)
    assert answer.status_code == 422 and answer.json()["field"] == field, answer.text


async def test_the_command_line_prints_the_same_figures(acme: Org, fleet: Fleet) -> None:
    database = acme.harness.gateway.db.path
    period = ("--since", OCTOBER["since"], "--until", OCTOBER["until"], "--organisation", "Acme")
    code, out, err = await run_cli(database, "stats", "members", *period, "--format", "csv")
    assert code == 0, err
    rows = {r["email"]: r for r in csv.DictReader(io.StringIO(out))}
    assert (rows["ann@acme.test"]["sessions"], rows["ann@acme.test"]["energy_kwh"]) == ("3", "14.5")
    code, out, err = await run_cli(database, "stats", "organisation", *period)
    assert code == 0, err
    header, values = out.splitlines()
    assert header.split()[:4] == ["organisation", "since", "until", "sessions"]
    assert values.split()[3] == "4"
    code, out, err = await run_cli(database, "stats", "stations", *period)
    assert code == 0, err
    assert out.splitlines()[1].split()[:3] == [ACME_STATION, "4", "22.5"]  # no site
