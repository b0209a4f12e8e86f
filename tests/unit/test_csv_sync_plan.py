"""The import plan (pure): matching rows to members, additions, updates with their changed
fields, deactivation of absent members and who is skipped, and every refusal rule."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from gateway.members.roles import Role
from gateway.members.sync_plan import ActorView, Existing, OrgState, Plan, plan_import
from gateway.members.sync_rows import check_header, parse_row

HEADER = ["identifier", "first_name", "last_name", "email", "role", "status", "groups", "tokens"]
OWNER = Existing(1, None, "Olivia", "Owner", "owner@acme.test", None, "Owner", (), "Active", None)
CLI = ActorView(None, frozenset({Role.OWNER}))


def member(member_id: int, email: str, role: str = "User", **fields: object) -> Existing:
    values: dict[str, object] = {
        "identifier": None, "first_name": "F", "last_name": "L", "phone": None,
        "extra_roles": (), "status": "Active", "valid_until": None,
    }  # fmt: skip
    values.update(fields)
    return Existing(id=member_id, email=email, role=role, **values)  # type: ignore[arg-type]


def state(*members: Existing, **extra: object) -> OrgState:
    owners = {t.upper(): m.id for m in members for t in m.tokens}
    values: dict[str, object] = {"token_owners": owners, "foreign_tokens": frozenset()}
    values.update(extra)
    return OrgState(1, "UTC", [OWNER, *members], {"night": "Night"}, **values)  # type: ignore[arg-type]


def plan(lines: list[str], org: OrgState, actor: ActorView = CLI) -> Plan:
    header, errors = check_header(HEADER)
    assert not errors
    rows = [
        parse_row(n, header, line.split(","), ZoneInfo("UTC")) for n, line in enumerate(lines, 2)
    ]
    return plan_import(rows, org, actor)


OWNER_ROW = ",Olivia,Owner,owner@acme.test,,,,"


def errors_of(result: Plan) -> set[tuple[int | None, str | None]]:
    return {(e.line, e.field) for e in result.errors}


def test_add_update_deactivate_and_unchanged() -> None:
    bob = member(2, "bob@acme.test", first_name="Bob", last_name="Beta", groups=("Night",))
    dan = member(3, "dan@acme.test")
    off = member(4, "off@acme.test", status="Inactive")
    result = plan(
        [OWNER_ROW, ",Bob,Beta,BOB@acme.test,Manager,,night,", ",New,One,new@acme.test,,,,N-1"],
        state(bob, dan, off),
    )
    assert result.errors == []
    assert result.unchanged == 1
    (update,) = result.updates
    assert update.member is bob
    assert update.changes == {
        "email": ("bob@acme.test", "BOB@acme.test"),
        "role": ("User", "Manager"),
    }
    (addition,) = result.additions
    assert addition.values["identifier"] == "new.one" and addition.values["status"] == "Active"
    assert addition.values["tokens"] == ("N-1",)
    assert result.deactivations == [dan]  # off is Inactive already


def test_matching_by_identifier_then_email_or_email_then_first_last() -> None:
    ann = member(2, "ann@acme.test", identifier="a.alpha", first_name="Ann", last_name="Alpha")
    by_identifier = plan([OWNER_ROW, "a.alpha,Ann,Alpha,new-ann@acme.test,,,,"], state(ann))
    assert by_identifier.updates[0].changes == {"email": ("ann@acme.test", "new-ann@acme.test")}
    by_email = plan([OWNER_ROW, "annie,Ann,Alpha,ann@acme.test,,,,"], state(ann))
    assert by_email.updates[0].changes == {"identifier": ("a.alpha", "annie")}
    ann2 = member(2, "ann@acme.test", identifier="ann.alpha", first_name="Ann", last_name="Alpha")
    by_default = plan([OWNER_ROW, ",Ann,Alpha,ann2@acme.test,,,,"], state(ann2))
    assert by_default.updates[0].member is ann2 and by_default.additions == []


def test_a_member_without_identifier_keeps_none_when_matched_by_email() -> None:
    plain = member(2, "p@acme.test", first_name="", last_name="")
    result = plan([OWNER_ROW, ",,,p@acme.test,,,,"], state(plain))
    assert result.errors == [] and result.unchanged == 2


def test_duplicates_in_the_file_point_to_the_first_line() -> None:
    result = plan(
        [
            OWNER_ROW,
            ",Ann,Alpha,ann@acme.test,,,,T-1",
            ",Ann,Alpha,other@acme.test,,,,",  # same default identifier
            "x,Bea,B,ANN@acme.test,,,,",  # same email
            "y,Cy,C,cy@acme.test,,,,t-1",  # same token
        ],
        state(),
    )
    messages = {e.line: e.message for e in result.errors}
    assert "also on line 3" in messages[4] and "give each an identifier" in messages[4]
    assert "also on line 3" in messages[5]
    assert "also on line 3" in messages[6]
    assert [a.line for a in result.additions] == [3]


def test_another_members_email_or_identifier_is_refused() -> None:
    ann = member(2, "ann@acme.test", identifier="ann")
    bob = member(3, "bob@acme.test", identifier="bob")
    result = plan(
        [OWNER_ROW, "ann,A,A,bob@acme.test,,,,", ",B,B,bob@acme.test,,,,"], state(ann, bob)
    )
    assert errors_of(result) == {(3, "email"), (4, "email")}  # bob's, and twice in the file


def test_tokens_of_others_are_refused_unless_their_row_gives_them_up() -> None:
    ann = member(2, "ann@acme.test", tokens=("SHARED",))
    bob = member(3, "bob@acme.test")
    keeps = plan(
        [OWNER_ROW, ",A,A,ann@acme.test,,,,", ",B,B,bob@acme.test,,,,shared"], state(ann, bob)
    )
    assert keeps.errors == []  # ann's row lists no token: she gives SHARED up
    refused = plan(
        [OWNER_ROW, ",A,A,ann@acme.test,,,,SHARED", ",B,B,bob@acme.test,,,,shared"],
        state(ann, bob),
    )
    assert errors_of(refused) == {(4, "tokens")}
    absent = plan([OWNER_ROW, ",B,B,bob@acme.test,,,,shared"], state(ann, bob))
    assert errors_of(absent) == {(3, "tokens")}  # ann is deactivated but keeps her token
    foreign = plan(
        [OWNER_ROW, ",C,C,c@acme.test,,,,ELSEWHERE"], state(foreign_tokens={"ELSEWHERE"})
    )
    assert "already in use" in foreign.errors[0].message


def test_a_refused_giver_refuses_the_taker() -> None:
    ann = member(2, "ann@acme.test", tokens=("SHARED",))
    bob = member(3, "bob@acme.test")
    result = plan(
        [OWNER_ROW, ",A,A,ann@acme.test,Emperor,,,", ",B,B,bob@acme.test,,,,SHARED"],
        state(ann, bob),
    )
    assert errors_of(result) == {(3, "role"), (4, "tokens")}


def test_role_rules_for_an_administrator() -> None:
    admin = member(2, "admin@acme.test", "Administrator")
    peer = member(3, "peer@acme.test", "Administrator")
    user = member(4, "user@acme.test")
    actor = ActorView(2, frozenset({Role.ADMINISTRATOR}))
    org = state(admin, peer, user)
    result = plan(
        [
            ",N,A,new-admin@acme.test,Administrator,,,",  # may grant Administrator
            ",N,O,new-owner@acme.test,Owner,,,",  # never
            ",F,L,peer@acme.test,User,,,",  # may not change a peer
            ",F,L,user@acme.test,Manager,,,",  # may promote a User
            ",F,L,admin@acme.test,,,,",  # unchanged self: fine
        ],
        org,
        actor,
    )
    assert errors_of(result) == {(3, "role"), (4, "role")}
    assert [a.line for a in result.additions] == [2]
    assert [u.member for u in result.updates] == [user]
    assert {m.id: reason for m, reason in result.skipped} == {
        1: "the Owner is never deactivated by an import"
    }
    renamed = plan([",Me,Myself,admin@acme.test,,,,"], org, actor)
    assert renamed.errors == [] and renamed.updates[0].member is admin  # like editing yourself
    demoted = plan([",F,L,admin@acme.test,User,,,"], org, actor)
    assert [e.message for e in demoted.errors] == ["an import may not change your own role"]


def test_pending_and_owner_rules() -> None:
    pending = member(2, "p@acme.test", status="Pending")
    result = plan(
        [
            ",Olivia,Owner,owner@acme.test,User,,,",
            ",F,L,p@acme.test,,Active,,",
            ",N,N,n@acme.test,,Pending,,",
        ],
        state(pending),
    )
    assert errors_of(result) == {(2, "role"), (3, "status"), (4, "status")}
    kept = plan([OWNER_ROW, ",F,L,p@acme.test,,Pending,,"], state(pending))
    assert kept.errors == [] and kept.unchanged == 2


def test_a_bad_row_protects_the_member_it_names() -> None:
    ann = member(2, "ann@acme.test", identifier="ann")
    bob = member(3, "bob@acme.test")
    result = plan(
        [OWNER_ROW, "ann,A,A,not-an-email,,,,", ",B,B,bob@acme.test,Emperor,,,"], state(ann, bob)
    )
    assert result.deactivations == [] and len(result.errors) == 2


def test_existing_groups_keep_their_stored_name() -> None:
    result = plan([OWNER_ROW, ",N,N,n@acme.test,,,NIGHT;Day,"], state())
    assert result.additions[0].values["groups"] == ("Day", "Night")
