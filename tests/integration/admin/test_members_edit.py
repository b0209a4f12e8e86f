"""Editing members over real HTTP: own name/email/phone, role rules, permission overrides you
hold, groups created on demand, badges added and removed (a real charger follows at once),
policy set and cleared, duplicates 409, bad input 422 naming the field, isolation 404."""

from __future__ import annotations

from simulators import ChargePoint16
from tests.integration.admin.conftest import ACME_PASSWORD, ACME_STATION, Org


async def test_anyone_edits_their_own_name_email_and_phone_only(acme: Org) -> None:
    user_id, token = await acme.add_member("user@acme.test")
    me = acme.client(token)
    answer = await me.patch(
        f"/members/{user_id}",
        json={"first_name": "Uma", "last_name": "User", "phone": "+44 20 7946 0000",
              "email": "uma@acme.test"},
    )  # fmt: skip
    assert answer.status_code == 200, answer.text
    assert (answer.json()["first_name"], answer.json()["email"]) == ("Uma", "uma@acme.test")
    for field, value in (
        ("role", "Manager"),
        ("groups", ["vip"]),
        ("permissions", {"stations": True}),
        ("policy", None),
        ("valid_until", None),
        ("tokens", {"add": [{"value": "SELF-BADGE"}]}),
    ):
        refused = await me.patch(f"/members/{user_id}", json={field: value})
        assert refused.status_code == 403, field
        assert refused.json()["field"] == field
    # The Owner too: their own role is not theirs to edit.
    owner = await acme.owner.patch(f"/members/{acme.owner_id}", json={"role": "Administrator"})
    assert owner.status_code == 403
    assert (
        await acme.owner.patch(f"/members/{acme.owner_id}", json={"first_name": "Olga"})
    ).json()["first_name"] == "Olga"


async def test_edits_need_a_rank_strictly_above_the_member(acme: Org) -> None:
    admin_id, admin = await acme.add_member("admin@acme.test", "Administrator")
    other_admin, _ = await acme.add_member("admin2@acme.test", "Administrator")
    manager_id, manager = await acme.add_member("manager@acme.test", "Manager")
    user_id, _ = await acme.add_member("user@acme.test")
    a = acme.client(admin)
    assert (await a.patch(f"/members/{manager_id}", json={"first_name": "M"})).status_code == 200
    assert (await a.patch(f"/members/{user_id}", json={"role": "Manager"})).status_code == 200
    for target in (other_admin, acme.owner_id):
        assert (await a.patch(f"/members/{target}", json={"first_name": "X"})).status_code == 403
    # A Manager needs the members permission to edit anyone else.
    m = acme.client(manager)
    assert (await m.patch(f"/members/{user_id}", json={"first_name": "X"})).status_code == 403
    # The Owner may promote up to Administrator, never to Owner.
    promoted = await acme.owner.patch(f"/members/{manager_id}", json={"role": "Administrator"})
    assert promoted.status_code == 200 and promoted.json()["role"] == "Administrator"
    owner = await acme.owner.patch(f"/members/{admin_id}", json={"extra_roles": ["Owner"]})
    assert owner.status_code == 403 and "transfer" in owner.json()["error"]


async def test_permission_overrides_only_for_permissions_you_hold(acme: Org) -> None:
    manager_id, manager = await acme.add_member("manager@acme.test", "Manager")
    user_id, _ = await acme.add_member("user@acme.test")
    given = await acme.owner.patch(
        f"/members/{manager_id}", json={"permissions": {"members": True}}
    )
    assert given.status_code == 200 and "members" in given.json()["permissions"]
    m = acme.client(manager)
    ok = await m.patch(f"/members/{user_id}", json={"permissions": {"statistics": True}})
    assert ok.status_code == 200 and ok.json()["permissions"] == ["statistics"]
    refused = await m.patch(f"/members/{user_id}", json={"permissions": {"discounts": True}})
    assert refused.status_code == 403 and refused.json()["field"] == "permissions.discounts"
    # The Owner gives discounts; the manager may still edit the user's other fields...
    await acme.owner.patch(
        f"/members/{user_id}", json={"permissions": {"statistics": True, "discounts": True}}
    )
    assert (await m.patch(f"/members/{user_id}", json={"phone": "+1 555 0100"})).status_code == 200
    # ...but not remove an override on a permission the manager does not hold.
    removed = await m.patch(f"/members/{user_id}", json={"permissions": {"statistics": True}})
    assert removed.status_code == 403 and removed.json()["field"] == "permissions.discounts"


async def test_badges_groups_policy_and_validity_reach_the_charger_at_once(acme: Org) -> None:
    member_id, _ = await acme.add_member("driver@acme.test", badge="OLD-BADGE")
    owner = acme.owner
    async with ChargePoint16(ACME_STATION, url=acme.harness.url, password=ACME_PASSWORD) as cp:
        await cp.boot()
        assert (await cp.authorize("OLD-BADGE"))["idTagInfo"]["status"] == "Accepted"
        answer = await owner.patch(
            f"/members/{member_id}",
            json={
                "tokens": {"add": [{"value": "NEW-BADGE"}], "remove": ["old-badge"]},
                "groups": ["commuters", "night"],
            },
        )
        assert answer.status_code == 200, answer.text
        assert [t["value"] for t in answer.json()["tokens"]] == ["NEW-BADGE"]
        assert answer.json()["groups"] == ["commuters", "night"]
        assert (await cp.authorize("NEW-BADGE"))["idTagInfo"]["status"] == "Accepted"
        assert (await cp.authorize("OLD-BADGE"))["idTagInfo"]["status"] == "Invalid"

        # A policy allowing no station at all refuses at once; clearing it restores access.
        policy = {"name": "nowhere", "stations": [], "all_stations": False}
        set_policy = await owner.patch(f"/members/{member_id}", json={"policy": policy})
        assert set_policy.json()["policy"]["name"] == "nowhere"
        assert (await cp.authorize("NEW-BADGE"))["idTagInfo"]["status"] != "Accepted"
        cleared = await owner.patch(f"/members/{member_id}", json={"policy": None})
        assert cleared.json()["policy"] is None
        assert (await cp.authorize("NEW-BADGE"))["idTagInfo"]["status"] == "Accepted"

        expired = await owner.patch(
            f"/members/{member_id}", json={"valid_until": "2001-01-01T00:00:00Z"}
        )
        assert expired.status_code == 200
        assert (await cp.authorize("NEW-BADGE"))["idTagInfo"]["status"] == "Expired"
        await owner.patch(f"/members/{member_id}", json={"valid_until": None})
        assert (await cp.authorize("NEW-BADGE"))["idTagInfo"]["status"] == "Accepted"
        # Groups are replaced as a whole.
        regrouped = await owner.patch(f"/members/{member_id}", json={"groups": ["night"]})
        assert regrouped.json()["groups"] == ["night"]


async def test_duplicates_are_409_and_bad_input_is_4xx_naming_the_field(acme: Org) -> None:
    member_id, _ = await acme.add_member("driver@acme.test", badge="MINE")
    await acme.add_member("other@acme.test", badge="THEIRS")
    await acme.owner.patch(f"/members/{member_id}", json={"identifier": "dee.driver"})
    other, _ = await acme.add_member("third@acme.test")
    cases = [
        (other, {"email": "DRIVER@acme.test"}, 409, "email"),
        (other, {"identifier": "Dee.Driver"}, 409, "identifier"),
        (other, {"tokens": {"add": [{"value": "theirs"}]}}, 409, "tokens"),
        (other, {"tokens": {"remove": ["MINE"]}}, 422, "tokens.remove"),
        (other, {"first_name": None}, 422, "body"),
        (other, {"role": "Emperor"}, 422, "body.role"),
        (other, {"email": "nope"}, 422, "body.email"),
        (other, {"valid_until": "tomorrow"}, 422, "body.valid_until"),
        (other, {"policy": {"amount_caps": [{"limit": "-1", "period": "month"}]}}, 422,
         "policy.amount_caps.0.limit"),
        (other, {"policy": {"hours": "always"}}, 422, "policy.hours"),
        (other, {"policy": {"amount_caps": [{"limit": "1e999999", "period": "day"}]}}, 422,
         "policy.amount_caps.0.limit"),
        (other, {"policy": {"max_concurrent": 10**30}}, 422, "policy.max_concurrent"),
        (other, {}, 422, None),
        (other, {"nickname": "x"}, 422, "body.nickname"),
        (999_999, {"first_name": "x"}, 404, None),
    ]  # fmt: skip
    for target, body, status, field in cases:
        answer = await acme.owner.patch(f"/members/{target}", json=body)
        assert (answer.status_code, answer.json()["field"]) == (status, field), (body, answer.text)
        assert answer.json()["error"]
    # A refused edit changed nothing (one transaction).
    half = await acme.owner.patch(
        f"/members/{other}",
        json={"first_name": "Half", "tokens": {"add": [{"value": "FRESH"}, {"value": "THEIRS"}]}},
    )
    assert half.status_code == 409
    unchanged = (await acme.owner.get(f"/members/{other}")).json()
    assert unchanged["first_name"] != "Half" and unchanged["tokens"] == []


async def test_the_owners_role_changes_only_by_transfer(acme: Org) -> None:
    """Even the command line, which may act on anyone, does not demote the Owner by an edit."""
    from gateway.members.editing import MemberEditor
    from gateway.members.errors import Conflict
    from gateway.members.inputs import MemberUpdate
    from gateway.members.service import Actor

    editor = MemberEditor(acme.harness.gateway.admin.ctx)
    try:
        await editor.edit(
            Actor.command_line(acme.id), acme.owner_id, MemberUpdate(role="Administrator")
        )
    except Conflict as exc:
        assert exc.field == "role"
    else:
        raise AssertionError("the Owner was demoted by an edit")


async def test_another_organisations_member_cannot_be_edited(acme: Org, globex: Org) -> None:
    theirs, _ = await globex.add_member("g@globex.test")
    answer = await acme.owner.patch(f"/members/{theirs}", json={"first_name": "Hacked"})
    assert answer.status_code == 404
    assert (await globex.owner.get(f"/members/{theirs}")).json()["first_name"] == "g"
    # Groups are per organisation: Acme's "night" is not Globex's.
    mine, _ = await acme.add_member("a@acme.test")
    await acme.owner.patch(f"/members/{mine}", json={"groups": ["night"]})
    await globex.owner.patch(f"/members/{theirs}", json={"groups": ["night"]})
    rows = await acme.harness.db_rows("SELECT organisation_id FROM groups WHERE name = 'night'")
    assert sorted(r["organisation_id"] for r in rows) == sorted([acme.id, globex.id])


async def test_ids_beyond_what_the_database_stores_are_422_not_500(acme: Org) -> None:
    big = 2**64
    for method, path, body, field in (
        ("GET", f"/members/{big}", None, "path.member_id"),
        ("PATCH", f"/members/{big}", {"first_name": "x"}, "path.member_id"),
        ("DELETE", f"/members/{big}", None, "path.member_id"),
        ("POST", f"/members/{big}/deactivate", None, "path.member_id"),
        ("POST", f"/members/{big}/resend-invitation", None, "path.member_id"),
        ("POST", "/members/bulk-deactivate", {"member_ids": [big]}, "body.member_ids.0"),
        ("POST", "/organisation/transfer-ownership", {"member_id": big}, "body.member_id"),
        ("GET", f"/audit?actor_id={big}", None, "query.actor_id"),
        ("DELETE", f"/api-tokens/{big}", None, "path.token_id"),
        ("POST", "/invitations", {"email": "a@acme.test\u0000"}, "body.email"),
        ("POST", "/invitations", {"email": "a@acme.test", "last_name": "\u0007"},
         "body.last_name"),
    ):  # fmt: skip
        answer = await acme.owner.request(method, path, json=body)
        assert (answer.status_code, answer.json()["field"]) == (422, field), (path, answer.text)
