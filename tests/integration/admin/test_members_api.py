"""The admin API over real HTTP: authentication, listing, deactivation reaching real chargers,
role rules for activation, API tokens, cross-organisation isolation, error shapes."""

from __future__ import annotations

from simulators import ChargePoint16, ChargePoint201
from tests.integration.admin.conftest import ACME_PASSWORD, ACME_STATION, ACME_STATION_201, Org


async def test_requests_without_a_valid_token_get_401(acme: Org) -> None:
    for client in (acme.client(None), acme.client("ogw_not-a-real-token")):
        answer = await client.get("/members")
        assert answer.status_code == 401
        assert answer.headers["www-authenticate"] == "Bearer"
        assert "API token" in answer.json()["error"]


async def test_the_owner_token_from_create_organisation_works(acme: Org) -> None:
    me = (await acme.owner.get("/me")).json()
    assert me["email"] == "owner@acme.test"
    assert me["role"] == "Owner" and me["status"] == "Active"
    assert "members" in me["permissions"]


async def test_list_filters_searches_and_paginates(acme: Org) -> None:
    await acme.add_member("ann@acme.test", "Manager", first_name="Ann", last_name="Alpha")
    await acme.add_member("bob@acme.test", first_name="Bob", last_name="Beta", status="Inactive")
    await acme.add_member("cy@acme.test", first_name="Cy", last_name="Gamma", badge="CY-BADGE")
    owner = acme.owner
    everyone = (await owner.get("/members")).json()
    assert everyone["total"] == 4
    names = [m["last_name"] for m in everyone["items"]]
    assert names == sorted(names, key=str.lower)
    inactive = (await owner.get("/members", params={"status": "Inactive"})).json()
    assert [m["email"] for m in inactive["items"]] == ["bob@acme.test"]
    managers = (await owner.get("/members", params={"role": "Manager"})).json()
    assert [m["email"] for m in managers["items"]] == ["ann@acme.test"]
    found = (await owner.get("/members", params={"q": "GAMM"})).json()
    assert [m["email"] for m in found["items"]] == ["cy@acme.test"]
    assert found["items"][0]["tokens"][0]["value"] == "CY-BADGE"
    page2 = (await owner.get("/members", params={"per_page": 3, "page": 2})).json()
    assert page2["total"] == 4 and len(page2["items"]) == 1


async def test_deactivate_refuses_the_next_authorize_at_once_and_reactivate_restores(
    acme: Org,
) -> None:
    member_id, _ = await acme.add_member("driver@acme.test", badge="DRIVER-1")
    async with (
        ChargePoint16(ACME_STATION, url=acme.harness.url, password=ACME_PASSWORD) as cp,
        ChargePoint201(ACME_STATION_201, url=acme.harness.url, password=ACME_PASSWORD) as cs,
    ):
        await cp.boot()
        await cs.boot()
        assert (await cp.authorize("DRIVER-1"))["idTagInfo"]["status"] == "Accepted"
        answer = await acme.owner.post(f"/members/{member_id}/deactivate")
        assert answer.status_code == 200 and answer.json()["status"] == "Inactive"
        # No wait: the API refreshed the cache before it answered.
        assert (await cp.authorize("DRIVER-1"))["idTagInfo"]["status"] == "Blocked"
        assert (await cs.authorize("DRIVER-1"))["idTokenInfo"]["status"] == "Blocked"
        answer = await acme.owner.post(f"/members/{member_id}/reactivate")
        assert answer.json()["status"] == "Active"
        assert (await cp.authorize("DRIVER-1"))["idTagInfo"]["status"] == "Accepted"
        assert (await cs.authorize("DRIVER-1"))["idTokenInfo"]["status"] == "Accepted"


async def test_activation_follows_the_role_rules(acme: Org) -> None:
    admin_id, admin_token = await acme.add_member("admin@acme.test", "Administrator")
    manager_id, manager_token = await acme.add_member("manager@acme.test", "Manager")
    user_id, user_token = await acme.add_member("user@acme.test")
    other_admin, _ = await acme.add_member("admin2@acme.test", "Administrator")
    admin = acme.client(admin_token)
    # A Manager has no members permission by default; a User neither.
    for token in (manager_token, user_token):
        answer = await acme.client(token).post(f"/members/{user_id}/deactivate")
        assert answer.status_code == 403, answer.text
        assert (await acme.client(token).get("/members")).status_code == 403
    # Nobody changes their own status, nor that of an equal or higher role.
    assert (await admin.post(f"/members/{admin_id}/deactivate")).status_code == 403
    assert (await admin.post(f"/members/{other_admin}/deactivate")).status_code == 403
    assert (await admin.post(f"/members/{acme.owner_id}/deactivate")).status_code == 403
    assert (await admin.post(f"/members/{manager_id}/deactivate")).status_code == 200
    # A deactivated member's API token stops working.
    assert (await acme.client(manager_token).get("/me")).status_code == 401
    # The owner may act on an Administrator.
    assert (await acme.owner.post(f"/members/{admin_id}/deactivate")).status_code == 200


async def test_a_user_sees_only_themselves(acme: Org) -> None:
    user_id, token = await acme.add_member("user@acme.test")
    client = acme.client(token)
    assert (await client.get("/me")).json()["id"] == user_id
    assert (await client.get(f"/members/{user_id}")).status_code == 200
    assert (await client.get(f"/members/{acme.owner_id}")).status_code == 403


async def test_another_organisations_members_are_not_found(acme: Org, globex: Org) -> None:
    globex_member, _ = await globex.add_member("g@globex.test", badge="GLOBEX-1")
    for method, path in (
        ("GET", f"/members/{globex_member}"),
        ("POST", f"/members/{globex_member}/deactivate"),
        ("GET", f"/api-tokens?member_id={globex.owner_id}"),
    ):
        answer = await acme.owner.request(method, path)
        assert answer.status_code == 404, (path, answer.text)
    listed = (await acme.owner.get("/members")).json()
    assert all(m["email"].endswith("@acme.test") for m in listed["items"])
    assert (await globex.owner.get(f"/members/{globex_member}")).json()["status"] == "Active"


async def test_api_tokens_are_created_listed_and_revoked(acme: Org) -> None:
    owner = acme.owner
    created = await owner.post("/api-tokens", json={"name": "ci"})
    assert created.status_code == 201
    secret = created.json()["secret"]
    token_id = created.json()["token"]["id"]
    assert secret.startswith("ogw_") and created.json()["token"]["prefix"] == secret[:10]
    listed = (await owner.get("/api-tokens")).json()
    assert {t["name"] for t in listed} == {"first owner token", "ci"}
    assert all("secret" not in t and "token_hash" not in t for t in listed)
    stored = await acme.harness.db_rows("SELECT token_hash FROM api_tokens WHERE id = ?", token_id)
    assert secret not in stored[0]["token_hash"]
    assert (await acme.client(secret).get("/me")).status_code == 200
    revoked = await owner.delete(f"/api-tokens/{token_id}")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    assert (await acme.client(secret).get("/me")).status_code == 401


async def test_bad_input_gets_4xx_naming_the_field(acme: Org) -> None:
    owner = acme.owner
    answer = await owner.get("/members", params={"per_page": 0})
    assert answer.status_code == 422 and answer.json()["field"] == "query.per_page"
    answer = await owner.get("/members", params={"role": "Emperor"})
    assert answer.status_code == 422 and answer.json()["field"] == "role"
    answer = await owner.post("/api-tokens", json={"name": "x", "colour": "red"})
    assert answer.status_code == 422 and answer.json()["field"] == "body.colour"
    answer = await owner.get("/members/not-a-number")
    assert answer.status_code == 422 and answer.json()["field"] == "path.member_id"
    assert (await owner.get("/members/99999")).status_code == 404


async def test_the_openapi_document_and_docs_are_served(acme: Org) -> None:
    client = acme.client(None)
    document = (await client.get(f"{acme.harness.http}/openapi.json")).json()
    assert "/api/v1/members" in document["paths"]
    assert "bearer" in str(document["components"]["securitySchemes"]).lower()
    assert (await client.get(f"{acme.harness.http}/docs")).status_code == 200


async def test_every_change_is_audited(acme: Org) -> None:
    member_id, _ = await acme.add_member("driver@acme.test")
    await acme.owner.post(f"/members/{member_id}/deactivate")
    rows = await acme.harness.db_rows(
        "SELECT actor, action, before, after FROM audit_log WHERE target_id = ?", str(member_id)
    )
    assert [r["action"] for r in rows] == ["member.deactivate"]
    assert rows[0]["actor"] == f"member:{acme.owner_id}"
    assert '"status": "Active"' in rows[0]["before"] and '"status": "Inactive"' in rows[0]["after"]


async def test_last_activity_is_the_latest_session_start(acme: Org) -> None:
    member_id, _ = await acme.add_member("driver@acme.test", badge="DRIVER-2")
    before = (await acme.owner.get(f"/members/{member_id}")).json()
    assert before["last_activity_at"] is None
    async with ChargePoint16(ACME_STATION, url=acme.harness.url, password=ACME_PASSWORD) as cp:
        await cp.boot()
        started = await cp.start_transaction(1, "DRIVER-2", 0)
        assert started["idTagInfo"]["status"] == "Accepted"
    after = (await acme.owner.get(f"/members/{member_id}")).json()
    listed = (await acme.owner.get("/members", params={"q": "driver@"})).json()["items"][0]
    assert after["last_activity_at"] is not None
    assert listed["last_activity_at"] == after["last_activity_at"]


async def test_cache_patches_and_rebuilds_are_counted_in_the_metrics(acme: Org) -> None:
    def counted(text: str, kind: str) -> float:
        line = f'ocpp_gateway_policy_cache_updates_total{{kind="{kind}"}} '
        found = [row for row in text.splitlines() if row.startswith(line)]
        return float(found[0].split()[-1]) if found else 0.0

    metrics = acme.client(None)
    before = (await metrics.get(f"{acme.harness.http}/metrics")).text
    member_id, _ = await acme.add_member("counted@acme.test", badge="COUNTED-1")
    await acme.owner.post(f"/members/{member_id}/deactivate")
    after = (await metrics.get(f"{acme.harness.http}/metrics")).text
    assert counted(before, "rebuild") >= 1  # the start
    assert counted(after, "patch") >= counted(before, "patch") + 2  # add_member, deactivate
    assert "ocpp_gateway_policy_cache_rebuild_seconds_count" in after
