"""Bulk deactivation, deletion and ownership transfer over real HTTP, with real chargers:
each role's allowed and refused deletions, anonymised transactions kept for accounting, one
Owner at all times, other organisations' members not found."""

from __future__ import annotations

import json

from simulators import ChargePoint16, ChargePoint201
from tests.integration.admin.conftest import ACME_PASSWORD, ACME_STATION, ACME_STATION_201, Org


async def test_bulk_deactivation_of_a_group_refuses_the_next_authorize(acme: Org) -> None:
    a, _ = await acme.add_member("a@acme.test", badge="BADGE-A")
    b, _ = await acme.add_member("b@acme.test", badge="BADGE-B")
    c, _ = await acme.add_member("c@acme.test", badge="BADGE-C")
    for member in (a, b):
        await acme.owner.patch(f"/members/{member}", json={"groups": ["night"]})
    async with (
        ChargePoint16(ACME_STATION, url=acme.harness.url, password=ACME_PASSWORD) as cp,
        ChargePoint201(ACME_STATION_201, url=acme.harness.url, password=ACME_PASSWORD) as cs,
    ):
        await cp.boot()
        await cs.boot()
        assert (await cp.authorize("BADGE-A"))["idTagInfo"]["status"] == "Accepted"
        answer = await acme.owner.post("/members/bulk-deactivate", json={"group": "night"})
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"deactivated": [a, b], "unchanged": [], "refused": []}
        # No wait: the cache was refreshed before the answer.
        assert (await cp.authorize("BADGE-A"))["idTagInfo"]["status"] == "Blocked"
        assert (await cs.authorize("BADGE-B"))["idTokenInfo"]["status"] == "Blocked"
        assert (await cp.authorize("BADGE-C"))["idTagInfo"]["status"] == "Accepted"
    rows = await acme.harness.db_rows(
        "SELECT target_id, action FROM audit_log WHERE action = 'member.deactivate' ORDER BY id"
    )
    assert [(r["target_id"], r["action"]) for r in rows] == [
        (str(a), "member.deactivate"),
        (str(b), "member.deactivate"),
    ]
    assert c  # untouched


async def test_bulk_deactivation_reports_what_was_refused_and_why(acme: Org, globex: Org) -> None:
    admin_id, admin = await acme.add_member("admin@acme.test", "Administrator")
    peer, _ = await acme.add_member("peer@acme.test", "Administrator")
    user, _ = await acme.add_member("user@acme.test")
    gone, _ = await acme.add_member("gone@acme.test", status="Inactive")
    foreign, _ = await globex.add_member("g@globex.test")
    selection = [user, peer, admin_id, acme.owner_id, gone, foreign, 424242, user]
    answer = await acme.client(admin).post(
        "/members/bulk-deactivate", json={"member_ids": selection}
    )
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["deactivated"] == [user] and result["unchanged"] == [gone]
    reasons = {r["member_id"]: r["reason"] for r in result["refused"]}
    assert reasons == {
        peer: "role",
        admin_id: "self",
        acme.owner_id: "owner",
        foreign: "not_found",
        424242: "not_found",
    }
    assert all(r["detail"] for r in result["refused"])
    # Globex's member is untouched; a missing group is a 404 naming the field.
    assert (await globex.owner.get(f"/members/{foreign}")).json()["status"] == "Active"
    missing = await acme.owner.post("/members/bulk-deactivate", json={"group": "nope"})
    assert missing.status_code == 404 and missing.json()["field"] == "group"
    for body in ({}, {"member_ids": [1], "group": "x"}, {"member_ids": "all"}):
        bad = await acme.owner.post("/members/bulk-deactivate", json=body)
        assert bad.status_code == 422, body
    # Without the members permission, nothing.
    _, manager = await acme.add_member("m@acme.test", "Manager")
    refused = await acme.client(manager).post(
        "/members/bulk-deactivate", json={"member_ids": [user]}
    )
    assert refused.status_code == 403


async def test_who_may_delete_whom(acme: Org) -> None:
    admin_id, admin = await acme.add_member("admin@acme.test", "Administrator")
    peer, _ = await acme.add_member("peer@acme.test", "Administrator")
    manager_id, manager = await acme.add_member("manager@acme.test", "Manager")
    _, staff = await acme.add_member("staff@acme.test", "User", extra_roles=["Manager"])
    user_id, user = await acme.add_member("user@acme.test")
    other_user, _ = await acme.add_member("user2@acme.test")
    a, m, u = acme.client(admin), acme.client(manager), acme.client(user)
    # Nobody deletes themselves, nor an equal or higher role.
    assert (await a.delete(f"/members/{admin_id}")).status_code == 403
    assert (await a.delete(f"/members/{peer}")).status_code == 403
    assert (await a.delete(f"/members/{acme.owner_id}")).status_code == 403
    assert (await acme.owner.delete(f"/members/{acme.owner_id}")).status_code == 403
    # No members permission: no deletion at all (Manager, User, User+Manager).
    for client in (m, u, acme.client(staff)):
        assert (await client.delete(f"/members/{other_user}")).status_code == 403
    # A Manager given the members permission deletes a User, not a Manager.
    await acme.owner.patch(f"/members/{manager_id}", json={"permissions": {"members": True}})
    assert (await m.delete(f"/members/{user_id}")).status_code == 200
    assert (await u.get("/me")).status_code == 401  # their API token is revoked
    # An Administrator deletes a Manager; the Owner deletes an Administrator.
    assert (await a.delete(f"/members/{manager_id}")).status_code == 200
    assert (await acme.owner.delete(f"/members/{peer}")).status_code == 200
    assert (await acme.owner.get(f"/members/{peer}")).status_code == 404
    assert (await acme.owner.delete(f"/members/{peer}")).status_code == 404


async def test_delete_keeps_transactions_for_accounting_without_personal_data(acme: Org) -> None:
    member_id, _ = await acme.add_member(
        "dora@acme.test", first_name="Dora", last_name="Driver", badge="DORA-1"
    )
    await acme.owner.patch(
        f"/members/{member_id}",
        json={"phone": "+33 6 00 00 00 00", "identifier": "dora.driver", "groups": ["night"],
              "policy": {"max_concurrent": 1}},
    )  # fmt: skip
    async with (
        ChargePoint16(ACME_STATION, url=acme.harness.url, password=ACME_PASSWORD) as cp,
        ChargePoint201(ACME_STATION_201, url=acme.harness.url, password=ACME_PASSWORD) as cs,
    ):
        await cp.boot()
        await cs.boot()
        started = await cp.start_transaction(1, "DORA-1", 1000)
        assert started["idTagInfo"]["status"] == "Accepted"
        await cp.stop_transaction(started["transactionId"], 8000, id_tag="DORA-1")
        tx_uid, answer = await cs.start_transaction("DORA-1", meter_wh=0)
        assert answer["idTokenInfo"]["status"] == "Accepted"
        await cs.end_transaction(tx_uid, 3000, id_token="DORA-1")

        # A session running: deleting would let its next messages bring the badge back.
        running = await cp.start_transaction(2, "DORA-1", 0)
        refused = await acme.owner.delete(f"/members/{member_id}")
        assert refused.status_code == 409 and "running" in refused.json()["error"]
        await cp.stop_transaction(running["transactionId"], 500, id_tag="DORA-1")

        before = await acme.harness.db_rows(
            "SELECT id, energy_wh, cost, started_at, ended_at FROM transactions"
            " WHERE member_id = ? ORDER BY id",
            member_id,
        )
        deleted = await acme.owner.delete(f"/members/{member_id}")
        assert deleted.status_code == 200, deleted.text
        assert deleted.json()["transactions_kept"] == 3
        # The badge no longer authorizes anyone.
        assert (await cp.authorize("DORA-1"))["idTagInfo"]["status"] == "Invalid"

    db = acme.harness.db_rows
    after = await db(
        "SELECT id, energy_wh, cost, started_at, ended_at FROM transactions"
        " WHERE member_id = ? ORDER BY id",
        member_id,
    )
    assert after == before and len(after) == 3  # kept for accounting, energy and cost intact
    assert all(r["energy_wh"] for r in after)
    tokens = await db(
        "SELECT id_token, stop_id_token FROM transactions WHERE member_id = ?", member_id
    )
    assert all(r["id_token"] is None and r["stop_id_token"] is None for r in tokens)
    events = await db("SELECT payload FROM transaction_events")
    assert events and all("DORA" not in r["payload"] for r in events)
    assert any(json.loads(r["payload"]).get("idToken", {}).get("idToken") == "<erased>"
               for r in events)  # fmt: skip
    member = (await db("SELECT * FROM members WHERE id = ?", member_id))[0]
    assert member["deleted_at"] and member["status"] == "Inactive"
    assert (member["first_name"], member["last_name"]) == ("", "")
    assert member["email"] is None and member["phone"] is None and member["identifier"] is None
    for table, column in (("tokens", "member_id"), ("member_groups", "member_id")):
        assert await db(f"SELECT 1 FROM {table} WHERE {column} = ?", member_id) == []
    assert await db("SELECT 1 FROM policies WHERE scope_kind = 'member' AND scope_id = ?",
                    member_id) == []  # fmt: skip
    revoked = await db("SELECT revoked_at FROM api_tokens WHERE member_id = ?", member_id)
    assert revoked and all(r["revoked_at"] for r in revoked)
    audit = await db("SELECT action, before, after FROM audit_log WHERE target_id = ?",
                     str(member_id))  # fmt: skip
    assert [r["action"] for r in audit][-1] == "member.delete"
    text = json.dumps(audit)
    for personal in ("Dora", "dora", "DORA-1", "+33 6", "Driver"):
        assert personal not in text, personal
    # The email can be used again for someone new.
    assert (
        await acme.owner.post("/invitations", json={"email": "dora@acme.test"})
    ).status_code == 201


async def test_ownership_transfer(acme: Org) -> None:
    admin_id, admin = await acme.add_member("admin@acme.test", "Administrator")
    manager_id, _ = await acme.add_member("manager@acme.test", "Manager", extra_roles=["User"])
    pending_id, _ = await acme.add_member("pending@acme.test", status="Pending")
    # Only the Owner transfers.
    refused = await acme.client(admin).post(
        "/organisation/transfer-ownership", json={"member_id": admin_id}
    )
    assert refused.status_code == 403
    # Only to an Active member of the organisation.
    pending = await acme.owner.post(
        "/organisation/transfer-ownership", json={"member_id": pending_id}
    )
    assert pending.status_code == 409 and pending.json()["field"] == "member_id"
    missing = await acme.owner.post("/organisation/transfer-ownership", json={"member_id": 9999})
    assert missing.status_code == 404
    itself = await acme.owner.post(
        "/organisation/transfer-ownership", json={"member_id": acme.owner_id}
    )
    assert itself.status_code == 422

    answer = await acme.owner.post(
        "/organisation/transfer-ownership", json={"member_id": manager_id}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["owner"]["id"] == manager_id
    assert answer.json()["owner"]["roles"] == ["Owner", "User"]
    assert answer.json()["previous_owner"]["role"] == "Administrator"
    owners = await acme.harness.db_rows(
        "SELECT id FROM members WHERE organisation_id = ? AND role = 'Owner'", acme.id
    )
    assert owners == [{"id": manager_id}]
    # The old owner is an Administrator now: no more transfers, and the new Owner acts on them.
    old = acme.owner
    again = await old.post("/organisation/transfer-ownership", json={"member_id": admin_id})
    assert again.status_code == 403
    assert (await old.delete(f"/members/{admin_id}")).status_code == 403  # equal rank now
    audit = await acme.harness.db_rows(
        "SELECT target_id, actor, before, after FROM audit_log WHERE action = 'ownership.transfer'"
        " ORDER BY id"
    )
    assert [(r["target_id"], r["actor"]) for r in audit] == [
        (str(acme.owner_id), f"member:{acme.owner_id}"),
        (str(manager_id), f"member:{acme.owner_id}"),
    ]
    assert json.loads(audit[0]["before"])["role"] == "Owner"
    assert json.loads(audit[0]["after"])["role"] == "Administrator"
    assert json.loads(audit[1]["after"])["role"] == "Owner"


async def test_other_organisations_are_invisible_to_every_operation(acme: Org, globex: Org) -> None:
    theirs, _ = await globex.add_member("g@globex.test", badge="GLOBEX-B")
    owner = acme.owner
    for method, path, body in (
        ("PATCH", f"/members/{theirs}", {"first_name": "x"}),
        ("DELETE", f"/members/{theirs}", None),
        ("POST", f"/members/{theirs}/resend-invitation", None),
        ("POST", "/organisation/transfer-ownership", {"member_id": theirs}),
        ("POST", "/organisation/transfer-ownership", {"member_id": globex.owner_id}),
        ("GET", f"/members/{globex.owner_id}", None),
    ):
        answer = await owner.request(method, path, json=body)
        assert answer.status_code == 404, (method, path, answer.text)
    assert (await globex.owner.get(f"/members/{theirs}")).json()["status"] == "Active"
