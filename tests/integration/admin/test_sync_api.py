"""Members import (a synchronisation) and export over real HTTP against a real gateway:
add/update/deactivate reaching real chargers, bad rows with their line numbers and nothing
applied, apply-valid, dry run, the export → import round trip (CSV and XLSX), skipped
members, role rules, cross-organisation isolation, broken files."""

from __future__ import annotations

import io
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook

from simulators import ChargePoint16
from tests.integration.admin.conftest import ACME_PASSWORD, ACME_STATION, Org

CSV = "text/csv"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
HEADER = "identifier,first_name,last_name,email,phone,role,status,groups,tokens,valid_until\n"


async def post_import(
    client: httpx.AsyncClient, body: str | bytes, content_type: str = CSV, **params: Any
) -> httpx.Response:
    data = body.encode() if isinstance(body, str) else body
    query = {k: str(v).lower() for k, v in params.items()}
    return await client.post(
        "/members/import", content=data, headers={"Content-Type": content_type}, params=query
    )


async def members_by_email(org: Org) -> dict[str, dict[str, Any]]:
    listed = (await org.owner.get("/members", params={"per_page": 500})).json()
    return {m["email"]: m for m in listed["items"]}


async def audit_actions(org: Org) -> list[str]:
    rows = await org.harness.db_rows(
        "SELECT action FROM audit_log WHERE organisation_id = ? ORDER BY id", org.id
    )
    return [r["action"] for r in rows]


async def test_import_adds_updates_and_deactivates_and_chargers_see_it_at_once(
    acme: Org,
) -> None:
    bob, _ = await acme.add_member("bob@acme.test", first_name="Bob", last_name="Beta")
    dan, _ = await acme.add_member("dan@acme.test", first_name="Dan", badge="DAN-1")
    await acme.add_member("cy@acme.test", status="Inactive", first_name="Cy", last_name="G")
    before = await audit_actions(acme)
    body = (
        HEADER
        + ",Olivia,Owner,owner@acme.test,,Owner,,,,\n"
        + ",Bob,Beta,bob@acme.test,+33 1 23 45 67 89,Manager,,Drivers,BOB-1,2030-06-30\n"
        + "eve,Ève,Éclair,eve@acme.test,,,,Drivers;Night,EVE-1;eve-2,\n"
        + ",Cy,G,cy@acme.test,,,,,,\n"
    )
    async with ChargePoint16(ACME_STATION, url=acme.harness.url, password=ACME_PASSWORD) as cp:
        await cp.boot()
        assert (await cp.authorize("DAN-1"))["idTagInfo"]["status"] == "Accepted"
        assert (await cp.authorize("EVE-1"))["idTagInfo"]["status"] == "Invalid"
        answer = await post_import(acme.owner, body)
        assert answer.status_code == 200, answer.text
        # No wait: the import refreshed the cache before it answered.
        assert (await cp.authorize("DAN-1"))["idTagInfo"]["status"] == "Blocked"
        assert (await cp.authorize("EVE-2"))["idTagInfo"]["status"] == "Accepted"
        assert (await cp.authorize("BOB-1"))["idTagInfo"]["status"] == "Accepted"
    report = answer.json()
    assert report["applied"] is True and report["errors"] == []
    assert report["counts"] == {
        "added": 1, "updated": 1, "unchanged": 2, "deactivated": 1, "skipped": 0, "bad_rows": 0,
    }  # fmt: skip
    (added,) = report["added"]
    assert added["line"] == 4 and added["identifier"] == "eve" and added["status"] == "Active"
    (updated,) = report["updated"]
    assert updated["id"] == bob and updated["line"] == 3
    assert updated["changes"]["role"] == {"before": "User", "after": "Manager"}
    assert updated["changes"]["phone"] == {"before": None, "after": "+33 1 23 45 67 89"}
    assert updated["changes"]["tokens"] == {"before": [], "after": ["BOB-1"]}
    assert [d["id"] for d in report["deactivated"]] == [dan]
    members = await members_by_email(acme)
    eve = members["eve@acme.test"]
    assert (eve["first_name"], eve["last_name"], eve["groups"]) == (
        "Ève",
        "Éclair",
        ["Drivers", "Night"],
    )
    assert [t["value"] for t in eve["tokens"]] == ["EVE-1", "eve-2"]
    assert members["bob@acme.test"]["role"] == "Manager"
    assert members["bob@acme.test"]["valid_until"] == "2030-07-01T00:00:00.000000Z"
    assert members["dan@acme.test"]["status"] == "Inactive"
    assert members["cy@acme.test"]["status"] == "Inactive"  # no status: unchanged
    assert members["owner@acme.test"]["status"] == "Active"
    actions = (await audit_actions(acme))[len(before) :]
    assert sorted(actions) == sorted(
        ["member.import.update", "member.import.add", "member.import.deactivate", "member.import"]
    )


async def test_a_new_member_gets_first_dot_last_as_identifier(acme: Org) -> None:
    body = HEADER + ",Zoë-Ann,O'Brien,zoe@acme.test,,,,,,\n,Olivia,Owner,owner@acme.test,,,,,,\n"
    answer = await post_import(acme.owner, body)
    assert answer.status_code == 200, answer.text
    assert (await members_by_email(acme))["zoe@acme.test"]["identifier"] == "zoe-ann.o-brien"


BAD_FILE = (
    HEADER
    + ",Olivia,Owner,owner@acme.test,,,,,,\n"  # 2
    + ',"Multi\nLine",Name,multi@acme.test,,,,,,\n'  # 3-4: one row on two lines
    + ",Ann,Alpha,not-an-email,,,,,,\n"  # 5
    + ",Bea,Beta,bea@acme.test,,Emperor,,,,\n"  # 6
    + ",Cat,Cole,cat@acme.test,,,,,SHARED-1,\n"  # 7
    + ",Dee,Dole,MULTI@acme.test,,,,,,\n"  # 8: duplicate email of line 3
    + ",,,,,,,,,\n"  # 9: blank, ignored
    + ",Fay,Fox,,,,,,,\n"  # 10: no email
    + ",Gus,Gray,gus@acme.test,,,,,,someday\n"  # 11
    + ",Old,Timer,old@acme.test,,,,,,\n"  # 12: names an existing member: good
)


async def test_bad_rows_are_reported_with_their_lines_and_nothing_is_applied(
    acme: Org, globex: Org
) -> None:
    await globex.add_member("g@globex.test", badge="SHARED-1")
    old, _ = await acme.add_member("old@acme.test", first_name="Old", last_name="Timer")
    other, _ = await acme.add_member("other@acme.test")
    before_members = await members_by_email(acme)
    before_audit = await audit_actions(acme)
    answer = await post_import(acme.owner, BAD_FILE)
    assert answer.status_code == 422, answer.text
    report = answer.json()
    assert report["applied"] is False
    assert "nothing was applied" in report["error"]
    found = {(e["line"], e["field"]) for e in report["errors"]}
    assert found == {
        (5, "email"), (6, "role"), (7, "tokens"), (8, "email"), (10, "email"), (11, "valid_until"),
    }, report["errors"]  # fmt: skip
    messages = {e["line"]: e["message"] for e in report["errors"]}
    assert "also on line 3" in messages[8]
    assert "already in use" in messages[7] and "globex" not in messages[7].lower()
    assert report["counts"]["bad_rows"] == 6
    # What would have happened is still told.
    assert {a["line"] for a in report["added"]} == {3}
    assert [d["id"] for d in report["deactivated"]] == [other]
    assert await members_by_email(acme) == before_members
    assert await audit_actions(acme) == before_audit
    assert old in {m["id"] for m in before_members.values()}


async def test_apply_valid_writes_the_good_rows_and_spares_members_named_by_bad_ones(
    acme: Org,
) -> None:
    await acme.add_member("kept@acme.test", first_name="Kept", last_name="Member")
    await acme.add_member("gone@acme.test")
    body = (
        HEADER
        + ",Olivia,Owner,owner@acme.test,,,,,,\n"
        + ",New,Member,new@acme.test,,,,,,\n"
        + ",Kept,Member,kept@acme.test,not a phone!,,,,,\n"  # bad: kept is not deactivated
    )
    answer = await post_import(acme.owner, body, apply_valid=True)
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["applied"] is True
    assert report["errors"] == [
        {"line": 4, "field": "phone", "message": "'not a phone!' is not a phone number"}
    ]
    members = await members_by_email(acme)
    assert members["new@acme.test"]["status"] == "Active"
    assert members["kept@acme.test"]["status"] == "Active"
    assert members["kept@acme.test"]["phone"] is None
    assert members["gone@acme.test"]["status"] == "Inactive"
    summary = await acme.harness.db_rows(
        "SELECT after FROM audit_log WHERE action = 'member.import'"
    )
    assert '"bad_rows": 1' in summary[0]["after"] and '"apply_valid": true' in summary[0]["after"]


async def test_dry_run_shows_the_changes_and_writes_nothing(acme: Org) -> None:
    await acme.add_member("bob@acme.test", first_name="Bob", last_name="Beta")
    gone, _ = await acme.add_member("gone@acme.test")
    before = (await acme.owner.get("/members/export")).content
    audit_before = await audit_actions(acme)
    body = (
        HEADER
        + ",Olivia,Owner,owner@acme.test,,,,,,\n"
        + ",Bob,Beta,bob@acme.test,+1 555 0100,,,Night,,\n"
        + ",New,Member,new@acme.test,,,,,NEW-1,\n"
    )
    answer = await post_import(acme.owner, body, dry_run=True)
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["dry_run"] is True and report["applied"] is False
    assert [(a["line"], a["identifier"], a["id"]) for a in report["added"]] == [
        (4, "new.member", None)
    ]
    assert report["updated"][0]["changes"] == {
        "phone": {"before": None, "after": "+1 555 0100"},
        "groups": {"before": [], "after": ["Night"]},
    }
    assert [d["id"] for d in report["deactivated"]] == [gone]
    assert (await acme.owner.get("/members/export")).content == before
    assert await audit_actions(acme) == audit_before


async def _varied_members(acme: Org) -> None:
    """Members with every kind of value an export carries."""
    await acme.add_member(
        "ann@acme.test", "Manager", first_name="Ann", last_name="Ångström", badge="ANN-1"
    )
    await acme.add_member("pending@acme.test", status="Pending", first_name="Pat")
    await acme.add_member("off@acme.test", status="Inactive", badge="OFF-1")
    body = (
        HEADER
        + ",Olivia,Owner,owner@acme.test,,,,,,\n"
        + ",Ann,Ångström,ann@acme.test,+44 20 7946 0000,Manager,,Night;Drivers,ANN-1;ann-2,"
        "2031-01-15T10:00:00Z\n"
        + 'x.y,"Quote ""Q""","=cmd|x",q@acme.test,,Administrator,Inactive,"a,b",,\n'
        + ",Pat,,pending@acme.test,,,,,,\n"
        + ",off,,off@acme.test,,,,,OFF-1,\n"
    )
    answer = await post_import(acme.owner, body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["counts"]["added"] == 1


async def test_an_exported_csv_imported_again_changes_nothing(acme: Org) -> None:
    await _varied_members(acme)
    exported = await acme.owner.get("/members/export")
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    assert "attachment" in exported.headers["content-disposition"]
    text = exported.text
    assert text.splitlines()[0] == HEADER.strip()
    answer = await post_import(acme.owner, text)
    assert answer.status_code == 200, answer.text
    counts = answer.json()["counts"]
    assert counts == {
        "added": 0, "updated": 0, "unchanged": 5, "deactivated": 0, "skipped": 0, "bad_rows": 0,
    }  # fmt: skip
    assert (await acme.owner.get("/members/export")).text == text


async def test_an_exported_xlsx_imported_again_changes_nothing(acme: Org) -> None:
    await _varied_members(acme)
    exported = await acme.owner.get("/members/export", params={"format": "xlsx"})
    assert exported.status_code == 200 and exported.headers["content-type"] == XLSX
    sheet = load_workbook(io.BytesIO(exported.content)).worksheets[0]
    values = {cell.value for row in sheet.iter_rows() for cell in row}
    assert "=cmd|x" in values  # kept as text, not a formula
    answer = await post_import(acme.owner, exported.content, XLSX)
    assert answer.status_code == 200, answer.text
    assert answer.json()["counts"]["unchanged"] == 5
    assert answer.json()["counts"]["updated"] == answer.json()["counts"]["added"] == 0
    csv_before = (await acme.owner.get("/members/export")).text
    answer = await post_import(acme.owner, exported.content, XLSX)
    assert (await acme.owner.get("/members/export")).text == csv_before


async def test_export_with_chosen_columns_and_unknown_ones(acme: Org) -> None:
    await acme.add_member("ann@acme.test", first_name="Ann", badge="ANN-1")
    answer = await acme.owner.get("/members/export", params={"columns": "email, tokens"})
    assert answer.status_code == 200
    assert answer.text.splitlines() == ["email,tokens", "ann@acme.test,ANN-1", "owner@acme.test,"]
    answer = await acme.owner.get("/members/export", params={"columns": "email,shoe_size"})
    assert answer.status_code == 422
    assert answer.json()["field"] == "columns" and "shoe_size" in answer.json()["error"]
    answer = await acme.owner.get("/members/export", params={"format": "pdf"})
    assert answer.status_code == 422 and answer.json()["field"] == "query.format"


async def test_an_administrator_cannot_deactivate_or_change_those_ranked_at_or_above(
    acme: Org,
) -> None:
    admin_id, admin_token = await acme.add_member("admin@acme.test", "Administrator")
    peer, _ = await acme.add_member("peer@acme.test", "Administrator", first_name="Peer")
    user, _ = await acme.add_member("user@acme.test", first_name="Use", last_name="R")
    admin = acme.client(admin_token)
    answer = await post_import(admin, HEADER + ",New,One,new@acme.test,,,,,,\n")
    assert answer.status_code == 200, answer.text
    report = answer.json()
    skipped = {s["id"]: s["reason"] for s in report["skipped"]}
    assert skipped.keys() == {acme.owner_id, admin_id, peer}
    assert "importing" in skipped[admin_id] and "Owner" in skipped[acme.owner_id]
    assert [d["id"] for d in report["deactivated"]] == [user]
    body = HEADER + ",Peer,,peer@acme.test,,User,,,,\n,Boss,,boss@acme.test,,Owner,,,,\n"
    answer = await post_import(admin, body)
    assert answer.status_code == 422
    assert {(e["line"], e["field"]) for e in answer.json()["errors"]} == {(2, "role"), (3, "role")}


async def test_only_members_with_the_members_permission_import_and_export(acme: Org) -> None:
    _, manager = await acme.add_member("manager@acme.test", "Manager")
    _, user = await acme.add_member("user@acme.test")
    for token in (manager, user):
        client = acme.client(token)
        assert (await post_import(client, HEADER)).status_code == 403
        assert (await client.get("/members/export")).status_code == 403
    assert (await post_import(acme.client(None), HEADER)).status_code == 401


async def test_an_import_touches_only_its_own_organisation(acme: Org, globex: Org) -> None:
    g_member, _ = await globex.add_member("g@globex.test", first_name="G", badge="GLOBEX-1")
    body = HEADER + ",Olivia,Owner,owner@acme.test,,,,,,\n,G,,g@globex.test,,,,,,\n"
    answer = await post_import(acme.owner, body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["counts"]["added"] == 1  # emails are per organisation
    globex_members = await members_by_email(globex)
    assert globex_members["g@globex.test"]["id"] == g_member
    assert globex_members["g@globex.test"]["status"] == "Active"
    exported = (await acme.owner.get("/members/export")).text
    assert "GLOBEX-1" not in exported
    assert all(m["id"] != g_member for m in (await members_by_email(acme)).values())


async def test_a_token_moves_between_members_named_in_the_same_file(acme: Org) -> None:
    await acme.add_member("a@acme.test", first_name="A", badge="MOVE-1")
    await acme.add_member("b@acme.test", first_name="B")
    body = (
        HEADER
        + ",Olivia,Owner,owner@acme.test,,,,,,\n"
        + ",A,,a@acme.test,,,,,,\n"
        + ",B,,b@acme.test,,,,,move-1,\n"
    )
    answer = await post_import(acme.owner, body)
    assert answer.status_code == 200, answer.text
    members = await members_by_email(acme)
    assert members["a@acme.test"]["tokens"] == []
    assert [t["value"] for t in members["b@acme.test"]["tokens"]] == ["move-1"]  # as written


async def test_broken_files_get_4xx_never_500(acme: Org) -> None:
    owner = acme.owner
    answer = await post_import(owner, '{"a": 1}', "application/json")
    assert answer.status_code == 415 and answer.json()["field"] == "content-type"
    answer = await post_import(owner, b"")
    assert answer.status_code == 422 and "empty" in answer.json()["error"]
    latin1 = (HEADER + ",Zoë,Z,z@acme.test,,,,,,\n").encode("latin-1")
    answer = await post_import(owner, latin1)
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["line"] == 2 and "UTF-8" in answer.json()["error"]
    answer = await post_import(owner, latin1, "text/csv; charset=latin-1")
    assert answer.status_code == 200, answer.text
    answer = await post_import(owner, b"PK\x03\x04 not really a workbook", XLSX)
    assert answer.status_code == 422 and "XLSX" in answer.json()["error"]
    answer = await post_import(owner, "first_name,email,colour\nA,a@acme.test,red\n")
    assert answer.status_code == 422
    errors = {(e["line"], e["field"]) for e in answer.json()["errors"]}
    assert errors == {(1, "colour"), (1, "last_name")}
    answer = await post_import(owner, HEADER)
    assert answer.status_code == 422 and "no member rows" in answer.json()["error"]
    answer = await post_import(owner, HEADER + ',"unclosed,x,y@acme.test\n')
    assert answer.status_code == 422 and answer.json()["errors"][0]["line"] == 2
    answer = await post_import(owner, HEADER + ",A,B,a@acme.test,,,,,,,,extra\n")
    assert answer.status_code == 422 and answer.json()["errors"][0]["line"] == 2


async def test_a_file_past_the_size_limit_gets_413(
    acme: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = acme.harness.gateway.admin.ctx
    monkeypatch.setattr(ctx, "settings", ctx.settings.model_copy(update={"import_max_bytes": 1024}))
    answer = await post_import(acme.owner, HEADER + ",A,B,a@acme.test,,,,,,\n" * 50)
    assert answer.status_code == 413 and answer.json()["field"] == "file"


async def test_semicolon_separated_files_are_read_too(acme: Org) -> None:
    body = (
        "first_name;last_name;email;groups\n"
        "Olivia;Owner;owner@acme.test;\n"
        'Ann;Alpha;ann@acme.test;"Night;Drivers"\n'
    )
    answer = await post_import(acme.owner, body)
    assert answer.status_code == 200, answer.text
    assert (await members_by_email(acme))["ann@acme.test"]["groups"] == ["Drivers", "Night"]


async def test_a_few_thousand_rows_import_in_one_go(acme: Org) -> None:
    lines = [HEADER.strip(), ",Olivia,Owner,owner@acme.test,,,,,,"]
    lines += [f",First{n},Last{n},m{n}@acme.test,,,,Bulk,B{n:05d},," for n in range(3000)]
    answer = await post_import(acme.owner, "\n".join(lines) + "\n")
    assert answer.status_code == 200, answer.text
    assert answer.json()["counts"]["added"] == 3000
    (row,) = await acme.harness.db_rows(
        "SELECT count(*) AS n FROM tokens t JOIN members m ON m.id = t.member_id"
        " WHERE m.organisation_id = ?",
        acme.id,
    )
    assert row["n"] == 3000
    again = await post_import(acme.owner, "\n".join(lines) + "\n")
    assert again.json()["counts"]["unchanged"] == 3001
