"""The member commands of ``ocpp-gateway`` as scripts use them (real processes, real SQLite
file): invite with the link accepted over HTTP by a running gateway, edit, bulk-deactivate,
delete, ownership transfer, the audit log (actor ``cli``), clear errors, and the old
``members add/deactivate/activate`` still working."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.conftest import run_cli, spawn_gateway


async def test_a_script_manages_members_end_to_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "gw.sqlite3"
    code, out, _ = await run_cli(db, "orgs", "create", "Acme", "--owner-email", "o@acme.test")
    assert code == 0
    org = ("--organisation", "Acme")
    code, out, err = await run_cli(
        db, "members", "add", "--email", "ann@acme.test", "--role", "Manager",
        "--group", "night", "--badge", "ANN-1", *org,
    )  # fmt: skip
    assert code == 0, err
    gateway = await spawn_gateway(db)
    try:
        monkeypatch.setenv(
            "OCPP_GATEWAY_ADMIN__PUBLIC_URL", f"http://127.0.0.1:{gateway.http_port}"
        )
        code, out, err = await run_cli(
            db, "members", "invite", "--email", "bob@acme.test", "--badge", "BOB-1",
            "--first-name", "Bob", *org,
        )  # fmt: skip
        assert code == 0, err
        link = out.split("pass it on): ")[1].strip()
        assert link.startswith(f"http://127.0.0.1:{gateway.http_port}/api/v1/invitations/")
        async with httpx.AsyncClient(timeout=30) as browser:
            assert (await browser.get(link)).json()["email"] == "bob@acme.test"
            accepted = await browser.post(link)
        assert accepted.status_code == 200, accepted.text
        bob = accepted.json()["member"]["id"]
    finally:
        assert await gateway.terminate() == 0

    code, out, _ = await run_cli(db, "members", "list", "--json", *org)
    listed = {m["email"]: m for m in json.loads(out)["items"]}
    assert listed["bob@acme.test"]["status"] == "Active"
    assert listed["ann@acme.test"]["groups"] == ["night"]

    code, out, err = await run_cli(
        db, "members", "edit", "bob@acme.test", "--phone", "+1 555 0100", "--group", "night",
        "--permission", "statistics=on", "--add-badge", "BOB-2", *org,
    )  # fmt: skip
    assert code == 0, err
    edited = json.loads(out)
    assert edited["phone"] == "+1 555 0100" and edited["groups"] == ["night"]
    assert edited["permission_overrides"] == {"statistics": True}
    assert [t["value"] for t in edited["tokens"]] == ["BOB-1", "BOB-2"]

    code, out, _ = await run_cli(db, "members", "bulk-deactivate", "--group", "night", *org)
    assert code == 0
    assert sorted(line.split("\t")[0] for line in out.splitlines()) == ["deactivated"] * 2
    code, out, _ = await run_cli(db, "members", "bulk-deactivate", "o@acme.test", "ghost", *org)
    assert code == 3  # something was refused: scripts can tell
    assert "refused\tghost\tno member ghost" in out and "Owner" in out

    assert (await run_cli(db, "members", "reactivate", "ann@acme.test", *org))[0] == 0
    code, _, err = await run_cli(db, "members", "delete", "ann@acme.test", *org)
    assert code == 1 and "--yes" in err
    code, out, _ = await run_cli(db, "members", "delete", "ann@acme.test", "--yes", *org)
    assert code == 0 and "0 transactions kept" in out

    code, out, err = await run_cli(db, "orgs", "transfer-ownership", *org, "--to", "bob@acme.test")
    assert code == 1 and "Inactive" in err  # bob was deactivated with his group
    assert (await run_cli(db, "members", "reactivate", str(bob), *org))[0] == 0
    code, out, err = await run_cli(db, "orgs", "transfer-ownership", *org, "--to", str(bob))
    assert code == 0, err
    assert "is the Owner" in out and "now an Administrator" in out

    code, out, _ = await run_cli(db, "audit", "--json", "--per-page", "100", *org)
    entries = json.loads(out)["items"]
    actions = [(e["actor"], e["action"]) for e in reversed(entries)]
    assert actions == [
        ("cli", "organisation.create"),
        ("cli", "member.create"),
        ("cli", "member.invite"),
        (f"member:{bob}", "invitation.accept"),
        ("cli", "member.update"),
        ("cli", "member.deactivate"),
        ("cli", "member.deactivate"),
        ("cli", "member.reactivate"),
        ("cli", "member.delete"),
        ("cli", "member.reactivate"),
        ("cli", "ownership.transfer"),
        ("cli", "ownership.transfer"),
    ]
    code, out, _ = await run_cli(db, "audit", "--member", "bob@acme.test", "--json", *org)
    assert all(e["target_id"] == str(bob) for e in json.loads(out)["items"])


async def test_command_line_errors_are_clear(tmp_path: Path) -> None:
    db = tmp_path / "gw.sqlite3"
    assert (await run_cli(db, "orgs", "create", "Acme", "--owner-email", "o@acme.test"))[0] == 0
    for args, message in (
        (("members", "invite", "--email", "x@acme.test", "--organisation", "Nope"),
         "no organisation 'Nope' (organisations: 'Acme')"),
        (("members", "invite", "--email", "not-mail", "--organisation", "Acme"),
         "not an email address"),
        (("members", "invite", "--email", "x@acme.test", "--role", "Owner",
          "--organisation", "Acme"), "transfer ownership"),
        (("members", "edit", "ghost@acme.test", "--phone", "1234", "--organisation", "Acme"),
         "no member ghost@acme.test"),
        (("members", "edit", "o@acme.test", "--permission", "stations=maybe",
          "--organisation", "Acme"), "NAME=on"),
        (("members", "edit", "o@acme.test", "--policy", "{not json", "--organisation", "Acme"),
         "--policy"),
        (("members", "delete", "o@acme.test", "--yes", "--organisation", "Acme"),
         "transfer ownership first"),
        (("audit", "--since", "someday", "--organisation", "Acme"), "--since"),
    ):  # fmt: skip
        code, _, err = await run_cli(db, *args)
        assert code == 1, args
        assert message in err, (args, err)
        assert "Traceback" not in err


async def test_the_only_organisation_is_the_default_and_none_is_made_on_the_side(
    tmp_path: Path,
) -> None:
    """No organisation: refused (create it with ``orgs create``), nothing made. One: every
    command acts in it without ``--organisation``. Several: refused, naming them."""
    db = tmp_path / "gw.sqlite3"
    for args in (
        ("members", "add", "--email", "a@x.test"),
        ("stations", "add", "CP-1"),
        ("tokens", "add", "T-1", "--member", "a@x.test"),
        ("groups", "add", "g"),
    ):
        code, _, err = await run_cli(db, *args)
        assert code == 1 and "no organisation yet: create one with: ocpp-gateway orgs create" in err
    code, _, err = await run_cli(db, "orgs", "create", "Acme Fleet", "--owner-email", "o@a.test")
    assert code == 0, err
    for args in (
        ("members", "add", "--email", "ada@example.org", "--group", "g", "--status", "Pending"),
        ("stations", "add", "CP-1"),
        ("tokens", "add", "T-1", "--member", "ada@example.org"),
        ("groups", "add", "commuters"),
        ("policies", "set", "--default", "--json", "{}"),
        ("stats", "organisation"),
        ("members", "export"),
    ):
        code, _, err = await run_cli(db, *args)
        assert code == 0, (args, err)
    code, out, _ = await run_cli(db, "members", "list", "--json")
    members = {m["email"]: m for m in json.loads(out)["items"]}
    assert members["ada@example.org"]["tokens"][0]["value"] == "T-1"
    assert members["ada@example.org"]["groups"] == ["g"]
    assert (await run_cli(db, "orgs", "create", "Globex", "--owner-email", "o@g.test"))[0] == 0
    code, _, err = await run_cli(db, "members", "list")
    assert code == 1
    assert "there are 2 organisations ('Acme Fleet', 'Globex'): name one with --organisation" in err
    code, _, err = await run_cli(
        db, "tokens", "add", "T-2", "--member", "x", "--organisation", "Nope"
    )
    assert code == 1 and "no organisation 'Nope' (organisations: 'Acme Fleet', 'Globex')" in err
    code, out, _ = await run_cli(db, "members", "list", "--json", "--organisation", "Globex")
    assert [m["email"] for m in json.loads(out)["items"]] == ["o@g.test"]
    rows = await _organisation_names(db)
    assert rows == ["Acme Fleet", "Globex"]  # never a "default"


async def _organisation_names(db: Path) -> list[str]:
    import sqlite3

    with sqlite3.connect(db) as conn:
        return [row[0] for row in conn.execute("SELECT name FROM organisations ORDER BY id")]
