"""Hostile input to the admin API of a real gateway: numbers past what SQLite stores, instants
at the edges of the calendar, a number where a date belongs, unknown routes and methods. Each
gets a 4xx in the documented error shape naming what was wrong, never a 500."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.admin.conftest import ACME_STATION, Org

HUGE = "17282913869156557716207553652719616"


async def _token(acme: Org) -> None:
    member, _ = await acme.add_member("ann@acme.test", badge="ANN-1")
    assert member


@pytest.mark.parametrize(
    ("method", "url", "body", "field"),
    [
        ("GET", "/members?page=9223372036854775807", None, "query.page"),
        ("GET", "/audit?page=2846379666030029535444992", None, "query.page"),
        ("GET", f"/policies/members/{HUGE}", None, "path.member_id"),
        ("PUT", f"/policies/members/{HUGE}", {}, "path.member_id"),
        ("DELETE", f"/policies/members/{HUGE}", None, "path.member_id"),
        ("GET", f"/statistics/members/{HUGE}", None, "path.member_id"),
        ("GET", f"/tokens?member_id={HUGE}", None, "query.member_id"),
        ("POST", "/tokens", {"value": "NEW-1", "member_id": int(HUGE)}, "body.member_id"),
        ("GET", "/statistics/members?page=9223372036854775807", None, "query.page"),
        ("GET", f"/explain?token=ANN-1&station={ACME_STATION}&at=9999-12-31T12:00:00Z", None,
         "query.at"),
        ("GET", f"/explain?token=ANN-1&station={ACME_STATION}&at=0001-01-01T00:00:00%2B00:00",
         None, "query.at"),
        ("GET", "/statistics/members?since=0001-01-01", None, "query.since"),
        ("GET", "/statistics/members?until=9999-12-31", None, "query.until"),
        ("GET", "/statistics/organisation?since=0001-01-01T00:00:00Z", None, "query.since"),
        ("GET", "/statistics/stations?until=2026-13-01", None, "query.until"),
        ("PATCH", "/tokens/ANN-1", {"expires_at": "9999-12-31T23:59:59-12:00"},
         "body.expires_at"),
        ("POST", "/tokens", {"value": "NEW-2", "member_id": 1, "expires_at": 1900000000},
         "body.expires_at"),
        ("GET", "/audit?until=0.5", None, "query.until"),
        ("GET", "/audit?since=1700000000", None, "query.since"),
        ("GET", "/audit?since=2026-01-01T00:00:00", None, "query.since"),
        ("PUT", "/policies/organisation", {"valid_until": "9999-12-31T23:59:59-12:00"},
         "body.valid_until"),
    ],
)  # fmt: skip
async def test_out_of_range_input_is_a_422_naming_the_parameter(
    acme: Org, method: str, url: str, body: Any, field: str
) -> None:
    await _token(acme)
    answer = await acme.owner.request(method, url, json=body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == field, answer.text
    assert answer.json()["error"].startswith(f"{field}: "), answer.text


async def test_the_edges_of_the_accepted_range_are_answered(acme: Org) -> None:
    """The first and last instants taken are real answers, not errors."""
    await _token(acme)
    owner = acme.owner
    for at in ("1970-01-01T00:00:00Z", "1970-01-01T01:00:00+01:00", "9998-12-31T11:59:59-12:00"):
        answer = await owner.get("/explain", params={"token": "ANN-1", "station": ACME_STATION,
                                                     "at": at})  # fmt: skip
        assert answer.status_code == 200, answer.text
    answer = await owner.get("/statistics/members", params={"since": "1970-01-01",
                                                            "until": "9998-12-31"})  # fmt: skip
    assert answer.status_code == 200, answer.text
    answer = await owner.patch("/tokens/ANN-1", json={"expires_at": "9998-12-31T23:59:59Z"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["expires_at"] == "9998-12-31T23:59:59.000000Z"
    answer = await owner.get("/members", params={"page": 1_000_000})
    assert answer.status_code == 200, answer.text
    assert answer.json()["items"] == []


@pytest.mark.parametrize(
    ("method", "path", "status", "error"),
    [
        ("GET", "/api/v1/no-such-thing", 404, "no such route: GET /api/v1/no-such-thing"),
        ("GET", "/nowhere", 404, "no such route: GET /nowhere"),
        ("PUT", "/api/v1/members", 405, "PUT is not allowed on /api/v1/members (allowed: GET)"),
        ("POST", "/healthz", 405, "POST is not allowed on /healthz (allowed: GET)"),
    ],
)
async def test_unknown_routes_and_methods_answer_the_error_shape(
    acme: Org, method: str, path: str, status: int, error: str
) -> None:
    answer = await acme.owner.request(method, acme.harness.http + path)
    assert answer.status_code == status, answer.text
    assert answer.json() == {"error": error, "field": None}
    if status == 405:
        assert answer.headers["allow"] == "GET"


async def test_a_body_that_is_not_utf8_json_is_a_422_naming_the_body(acme: Org) -> None:
    answer = await acme.owner.post(
        "/tokens", content=b"4;\xff\xfe\x00u", headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 422, answer.text
    assert answer.json() == {"error": "body: not JSON text (UTF-8)", "field": "body"}


HEADER = "identifier,first_name,last_name,email,phone,role,status,groups,tokens,valid_until"
DANGEROUS = (
    HEADER + "\r\n"
    ",Olivia,Owner,owner@acme.test,,,,,,\r\n"
    '\'quoted,"=HYPERLINK(""http://evil.test"",""click"")",-Dash,eve@acme.test,'
    "+33 1 23 45 67 89,,,,,\r\n"
    "plain,@at,+plus,at@acme.test,,,,,,\r\n"
)


async def test_a_csv_export_has_no_formula_and_imports_back_unchanged(acme: Org) -> None:
    """OWASP CSV injection: cells starting with = + - @ (or a quote) are written after a
    single quote; importing the export restores them exactly, and changes nothing."""
    owner = acme.owner
    csv_type = {"Content-Type": "text/csv"}
    imported = await owner.post("/members/import", content=DANGEROUS.encode(), headers=csv_type)
    assert imported.status_code == 200, imported.text
    eve = next(
        m for m in (await owner.get("/members")).json()["items"] if m["first_name"][0] == "="
    )
    assert (eve["identifier"], eve["first_name"], eve["last_name"], eve["phone"]) == (
        "'quoted",
        '=HYPERLINK("http://evil.test","click")',
        "-Dash",
        "+33 1 23 45 67 89",
    )
    exported = (await owner.get("/members/export")).text
    rows = {next(c for c in line.split(",") if "@acme" in c): line
            for line in exported.splitlines()[1:]}  # fmt: skip
    assert rows["eve@acme.test"] == (
        '\'\'quoted,"\'=HYPERLINK(""http://evil.test"",""click"")",\'-Dash,eve@acme.test,'
        "'+33 1 23 45 67 89,User,Active,,,"
    )
    assert rows["at@acme.test"].startswith("plain,'@at,'+plus,")
    again = await owner.post("/members/import", content=exported.encode(), headers=csv_type)
    assert again.status_code == 200, again.text
    assert again.json()["counts"] == {
        "added": 0, "updated": 0, "unchanged": 3, "deactivated": 0, "skipped": 0, "bad_rows": 0,
    }  # fmt: skip
    assert (await owner.get("/members/export")).text == exported
    report = (await owner.get("/statistics/members", params={"format": "csv"})).text
    assert "'=HYPERLINK" in report and ",=" not in report and ",-Dash" not in report
