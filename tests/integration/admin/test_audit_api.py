"""The audit log over real HTTP: every member operation leaves an entry (who, what, when,
before, after); queries by member, actor and period, newest first, paginated; the members
permission is needed; bad queries are 422 naming the field; organisations see only their own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from tests.integration.admin.conftest import Org


async def _actions(client: httpx.AsyncClient, **params: object) -> list[str]:
    answer = await client.get("/audit", params={"per_page": 500, **params})
    assert answer.status_code == 200, answer.text
    return [e["action"] for e in answer.json()["items"]]


async def test_every_member_operation_is_audited_newest_first(acme: Org) -> None:
    owner = acme.owner
    invited = (await owner.post("/invitations", json={"email": "new@acme.test"})).json()
    new_id = invited["member"]["id"]
    await owner.post(f"/members/{new_id}/resend-invitation")
    async with httpx.AsyncClient(timeout=30) as browser:
        accepted = await browser.post(
            (await owner.post(f"/members/{new_id}/resend-invitation")).json()["invitation"]["link"]
        )
    assert accepted.status_code == 200
    await owner.patch(f"/members/{new_id}", json={"phone": "+1 555 0101"})
    await owner.post("/members/bulk-deactivate", json={"member_ids": [new_id]})
    await owner.post(f"/members/{new_id}/reactivate")
    admin_id, admin_token = await acme.add_member("admin@acme.test", "Administrator")
    await owner.post("/organisation/transfer-ownership", json={"member_id": admin_id})
    await acme.client(admin_token).delete(f"/members/{new_id}")  # the new Owner deletes

    about = await owner.get("/audit", params={"member_id": new_id})
    entries = about.json()["items"]
    assert [e["action"] for e in entries] == [
        "member.delete",
        "member.reactivate",
        "member.deactivate",
        "member.update",
        "invitation.accept",
        "invitation.resend",
        "invitation.resend",
        "member.invite",
    ]
    assert [e["at"] for e in entries] == sorted((e["at"] for e in entries), reverse=True)
    update = next(e for e in entries if e["action"] == "member.update")
    assert update["actor"] == f"member:{acme.owner_id}"
    assert update["actor_member_id"] == acme.owner_id
    assert update["before"]["status"] == "Active" and "phone" not in update["after"]  # anonymised
    accept = next(e for e in entries if e["action"] == "invitation.accept")
    assert accept["actor"] == f"member:{new_id}"
    assert accept["before"]["status"] == "Pending" and accept["after"]["status"] == "Active"
    transfer = await _actions(owner, member_id=admin_id)
    assert transfer == ["ownership.transfer"]


async def test_queries_by_actor_period_and_page(acme: Org) -> None:
    owner = acme.owner
    admin_id, admin_token = await acme.add_member("admin@acme.test", "Administrator")
    users = [(await acme.add_member(f"u{i}@acme.test"))[0] for i in range(3)]
    admin = acme.client(admin_token)
    for user in users:
        await admin.patch(f"/members/{user}", json={"first_name": f"U{user}"})
    await owner.patch(f"/members/{users[0]}", json={"last_name": "Owner-made"})

    by_admin = (await owner.get("/audit", params={"actor_id": admin_id})).json()
    assert by_admin["total"] == 3
    assert {e["target_id"] for e in by_admin["items"]} == {str(u) for u in users}
    assert all(e["actor_member_id"] == admin_id for e in by_admin["items"])

    page1 = (await owner.get("/audit", params={"per_page": 2, "page": 1})).json()
    page2 = (await owner.get("/audit", params={"per_page": 2, "page": 2})).json()
    assert page1["total"] == page2["total"] >= 5
    assert page1["items"][0]["id"] > page1["items"][1]["id"] > page2["items"][0]["id"]

    now = datetime.now(UTC)
    future = await owner.get("/audit", params={"since": (now + timedelta(hours=1)).isoformat()})
    assert future.json()["total"] == 0
    window = await owner.get(
        "/audit",
        params={"since": (now - timedelta(hours=1)).isoformat(), "until": now.isoformat()},
    )
    assert window.json()["total"] == page1["total"]
    past = await owner.get("/audit", params={"until": (now - timedelta(days=1)).isoformat()})
    assert past.json()["total"] == 0


async def test_the_audit_log_needs_the_members_permission_and_stays_in_its_organisation(
    acme: Org, globex: Org
) -> None:
    _, manager = await acme.add_member("manager@acme.test", "Manager")
    _, user = await acme.add_member("user@acme.test")
    for token in (manager, user):
        assert (await acme.client(token).get("/audit")).status_code == 403
    assert (await acme.client(None).get("/audit")).status_code == 401
    theirs, _ = await globex.add_member("g@globex.test")
    await globex.owner.patch(f"/members/{theirs}", json={"first_name": "Secret"})
    mine = (await acme.owner.get("/audit", params={"per_page": 500})).json()["items"]
    assert all("Secret" not in str(e) and "Globex" not in str(e) for e in mine)
    assert (await acme.owner.get("/audit", params={"member_id": theirs})).json()["total"] == 0


async def test_bad_audit_queries_are_422_naming_the_field(acme: Org) -> None:
    owner = acme.owner
    now = datetime.now(UTC)
    cases = [
        ({"since": "yesterday"}, "query.since"),
        ({"since": "2026-01-01T00:00:00"}, "query.since"),  # no offset
        ({"since": now.isoformat(), "until": (now - timedelta(1)).isoformat()}, "since"),
        ({"page": 0}, "query.page"),
        ({"per_page": 501}, "query.per_page"),
        ({"member_id": "me"}, "query.member_id"),
    ]
    for params, field in cases:
        answer = await owner.get("/audit", params=params)
        assert (answer.status_code, answer.json()["field"]) == (422, field), params
