"""Invitations without SMTP and the rules of inviting, over real HTTP: each role's allowed and
refused invitations, the link returned to the inviter (and only redacted in the log), bad input
answered with 4xx naming the field, other organisations' members not found."""

from __future__ import annotations

import httpx

from gateway.members.invitations import redacted_link
from tests.integration.admin.conftest import Org


async def _invite(client: httpx.AsyncClient, email: str, role: str, **extra: object) -> int:
    answer = await client.post("/invitations", json={"email": email, "role": role, **extra})
    return answer.status_code


async def test_each_role_invites_only_roles_at_or_below_its_own(acme: Org) -> None:
    _, admin = await acme.add_member("admin@acme.test", "Administrator")
    _, manager = await acme.add_member("manager@acme.test", "Manager")
    _, staff = await acme.add_member(
        "staff@acme.test", "Manager", extra_roles=["Administrator"]
    )  # several roles: grants as the highest
    _, user = await acme.add_member("user@acme.test")
    expected = {
        "owner": (acme.owner_token, {"Administrator": 201, "Manager": 201, "User": 201}),
        "admin": (admin, {"Administrator": 201, "Manager": 201, "User": 201}),
        "staff": (staff, {"Administrator": 201, "Manager": 201, "User": 201}),
        # A Manager and a User have no members permission: nothing at all.
        "manager": (manager, {"Administrator": 403, "Manager": 403, "User": 403}),
        "user": (user, {"Administrator": 403, "Manager": 403, "User": 403}),
    }
    for who, (token, by_role) in expected.items():
        client = acme.client(token)
        for role, status in by_role.items():
            got = await _invite(client, f"{who}-{role.lower()}@new.test", role)
            assert got == status, (who, role)
        # Owner is never granted, only transferred.
        answer = await client.post("/invitations", json={"email": f"{who}@o.test", "role": "Owner"})
        assert answer.status_code == 403, who
    owner = await acme.owner.post("/invitations", json={"email": "x@o.test", "role": "Owner"})
    assert "transfer ownership" in owner.json()["error"] and owner.json()["field"] == "role"


async def test_a_manager_with_the_members_permission_invites_managers_and_users_only(
    acme: Org,
) -> None:
    manager_id, manager = await acme.add_member("manager@acme.test", "Manager")
    await acme.owner.patch(f"/members/{manager_id}", json={"permissions": {"members": True}})
    client = acme.client(manager)
    assert await _invite(client, "m@new.test", "Manager") == 201
    assert await _invite(client, "u@new.test", "User") == 201
    refused = await client.post(
        "/invitations", json={"email": "a@new.test", "role": "Administrator"}
    )
    assert refused.status_code == 403 and refused.json()["field"] == "role"
    extra = await client.post(
        "/invitations", json={"email": "b@new.test", "extra_roles": ["Administrator"]}
    )
    assert extra.status_code == 403 and extra.json()["field"] == "extra_roles"
    # Only permissions the manager holds: statistics yes, prices no.
    assert await _invite(client, "s@new.test", "User", permissions={"statistics": True}) == 201
    prices = await client.post(
        "/invitations", json={"email": "p@new.test", "permissions": {"prices": True}}
    )
    assert prices.status_code == 403 and prices.json()["field"] == "permissions.prices"


async def test_without_smtp_the_link_is_returned_to_the_inviter(acme: Org) -> None:
    answer = await acme.owner.post("/invitations", json={"email": "ann@acme.test"})
    assert answer.status_code == 201, answer.text
    created = answer.json()
    assert created["delivery"] == {"method": "none", "sent": False, "error": None}
    link = created["invitation"]["link"]
    assert link.startswith(f"{acme.harness.http}/api/v1/invitations/accept?token=inv_")
    # The log line (the other way the link reaches the operator) holds no usable secret.
    secret = link.split("token=")[1]
    logged = redacted_link(link)
    assert secret not in logged and logged.endswith("...") and logged.startswith(link[:-40])
    async with httpx.AsyncClient(timeout=30) as browser:
        assert (await browser.get(link)).json()["state"] == "open"
        accepted = await browser.post(link)
    assert accepted.status_code == 200 and accepted.json()["secret"].startswith("ogw_")


async def test_the_public_url_is_the_base_of_the_link(acme: Org) -> None:
    ctx = acme.harness.gateway.admin.ctx
    ctx.settings = ctx.settings.model_copy(update={"public_url": "https://admin.acme.test/"})
    link = (await acme.owner.post("/invitations", json={"email": "p@acme.test"})).json()[
        "invitation"
    ]["link"]
    assert link.startswith("https://admin.acme.test/api/v1/invitations/accept?token=inv_")


async def test_an_invitation_carries_roles_groups_tokens_and_policy(acme: Org) -> None:
    answer = await acme.owner.post(
        "/invitations",
        json={
            "email": "full@acme.test",
            "role": "Manager",
            "extra_roles": ["User", "Manager"],
            "first_name": "Fay",
            "last_name": "Full",
            "phone": "+33 6 12 34 56 78",
            "identifier": "fay.full",
            "permissions": {"prices": True},
            "groups": ["night", "day", "night"],
            "tokens": [{"value": "FULL-1"}, {"value": "FULL-2", "type": "ISO15693"}],
            "policy": {"max_concurrent": 2},
            "valid_until": "2030-01-01T00:00:00+00:00",
        },
    )
    assert answer.status_code == 201, answer.text
    member = answer.json()["member"]
    assert member["roles"] == ["Manager", "User"]
    assert member["groups"] == ["day", "night"]
    assert [t["value"] for t in member["tokens"]] == ["FULL-1", "FULL-2"]
    assert member["permission_overrides"] == {"prices": True}
    assert member["policy"] == {"name": "", "max_concurrent": 2}
    assert member["identifier"] == "fay.full" and member["valid_until"].startswith("2030-01-01")


async def test_bad_invitations_get_4xx_naming_the_field(acme: Org) -> None:
    owner = acme.owner
    await acme.add_member("taken@acme.test", badge="TAKEN-BADGE")
    cases = [
        ({"email": "not-an-email"}, 422, "body.email"),
        ({"email": "a@acme.test", "role": "Emperor"}, 422, "body.role"),
        ({"email": "a@acme.test", "colour": "red"}, 422, "body.colour"),
        ({"email": "a@acme.test", "permissions": {"flying": True}}, 422,
         "body.permissions.flying.[key]"),
        ({"email": "a@acme.test", "tokens": [{"value": ""}]}, 422, "body.tokens.0.value"),
        ({"email": "a@acme.test", "tokens": [{"value": "X", "type": "Bogus"}]}, 422,
         "body.tokens.0.type"),
        ({"email": "a@acme.test", "phone": "call me"}, 422, "body.phone"),
        ({"email": "a@acme.test", "valid_until": "2030-01-01T00:00:00"}, 422, "body.valid_until"),
        ({"email": "TAKEN@acme.test"}, 409, "email"),
        ({"email": "a@acme.test", "tokens": [{"value": "taken-badge"}]}, 409, "tokens"),
        ({"email": "a@acme.test", "tokens": [{"value": "T"}, {"value": "t"}]}, 409, "tokens"),
        ({"email": "a@acme.test", "policy": {"max_concurrent": 0}}, 422, "policy.max_concurrent"),
        ({"email": "a@acme.test", "policy": {"sites": ["Mars"]}}, 422, "policy.sites"),
        ({"email": "a@acme.test", "policy": {"hours": [{"days": ["moo"], "start": "07:00",
          "end": "08:00"}]}}, 422, "policy.hours.0.days.0"),
    ]  # fmt: skip
    for body, status, field in cases:
        answer = await owner.post("/invitations", json=body)
        assert (answer.status_code, answer.json()["field"]) == (status, field), (body, answer.text)
    # Nothing of the refused invitations was written.
    pending = (await owner.get("/members", params={"status": "Pending"})).json()
    assert pending["total"] == 0
    assert (await owner.post("/invitations", json={"email": "a@acme.test"})).status_code == 201
    again = await owner.post("/invitations", json={"email": "a@acme.test"})
    assert again.status_code == 409 and "re-send" in again.json()["error"]


async def test_activation_links_that_do_not_exist_or_are_missing(acme: Org) -> None:
    async with httpx.AsyncClient(base_url=acme.base_url, timeout=30) as browser:
        for method in ("GET", "POST"):
            unknown = await browser.request(
                method, "/invitations/accept", params={"token": "inv_not-a-real-one"}
            )
            assert unknown.status_code == 404 and unknown.json()["field"] == "token"
            missing = await browser.request(method, "/invitations/accept")
            assert missing.status_code == 422 and missing.json()["field"] == "query.token"


async def test_resend_follows_the_rules_and_other_organisations_are_not_found(
    acme: Org, globex: Org
) -> None:
    admin_id, admin = await acme.add_member("admin@acme.test", "Administrator")
    _, manager = await acme.add_member("manager@acme.test", "Manager")
    invited = (
        await acme.owner.post(
            "/invitations", json={"email": "i@acme.test", "role": "Administrator"}
        )
    ).json()["member"]["id"]
    # An Administrator may re-send for an Administrator (a role they may grant)...
    assert (
        await acme.client(admin).post(f"/members/{invited}/resend-invitation")
    ).status_code == 200
    # ...a Manager without the members permission may not.
    refused = await acme.client(manager).post(f"/members/{invited}/resend-invitation")
    assert refused.status_code == 403
    # An Active member is not invited.
    assert (await acme.owner.post(f"/members/{admin_id}/resend-invitation")).status_code == 409
    # Globex's Pending member does not exist for Acme.
    theirs = (await globex.owner.post("/invitations", json={"email": "g@globex.test"})).json()
    other = await acme.owner.post(f"/members/{theirs['member']['id']}/resend-invitation")
    assert other.status_code == 404
    # Inviting an email Globex uses is fine: emails are unique per organisation.
    assert (
        await acme.owner.post("/invitations", json={"email": "g@globex.test"})
    ).status_code == 201
