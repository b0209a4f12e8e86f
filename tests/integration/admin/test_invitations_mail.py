"""Invitations end to end with a real local SMTP server (aiosmtpd on 127.0.0.1, port 0): the
link is read from the mail received and accepted over HTTP; expiry and re-sending move the
gateway's clock; a refused mail keeps the invitation; a real charger sees each step."""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from gateway.app import create_app
from gateway.config import AdminSettings
from gateway.logs import configure_logging
from simulators import ChargePoint16
from tests.conftest import Harness, MovableClock, gateway_settings
from tests.integration.admin.conftest import ACME_PASSWORD, ACME_STATION, Org

LINK = re.compile(r"https?://\S+/api/v1/invitations/accept\?token=\S+")
TTL_HOURS = 2


@dataclass
class Mailbox:
    """An SMTP handler that keeps what it receives; ``bounce@`` recipients are refused (550)."""

    messages: list[EmailMessage] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address.startswith("bounce@"):
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        self.arrived.set()
        return "250 Message accepted for delivery"

    def link_to(self, address: str) -> str:
        """The activation link of the latest message to ``address``."""
        for message in reversed(self.messages):
            if message["To"] == address:
                body = message.get_body(preferencelist=("plain",))
                assert body is not None
                found = LINK.search(body.get_content())
                assert found is not None, body.get_content()
                return found.group(0).rstrip(".'")
        raise AssertionError(f"no mail to {address}: {[m['To'] for m in self.messages]}")


@pytest.fixture
async def mailbox() -> AsyncIterator[tuple[Mailbox, int]]:
    box = Mailbox()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(box, hostname="mail.test"), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield box, port
    server.close()
    await server.wait_closed()


@pytest.fixture
async def admin_gw(
    tmp_path: Path, mailbox: tuple[Mailbox, int], clock: MovableClock
) -> AsyncIterator[Harness]:
    """The admin gateway of these tests: SMTP to the local mailbox, a 2-hour invitation TTL."""
    configure_logging("json", "warning")
    admin = AdminSettings(
        smtp_host="127.0.0.1",
        smtp_port=mailbox[1],
        smtp_timeout=5,
        invitation_ttl_hours=TTL_HOURS,
        mail_from="gateway@acme.test",
    )
    settings = gateway_settings(tmp_path / "gw").model_copy(update={"admin": admin})
    gw = create_app(settings, clock=clock)
    await gw.start()
    yield Harness(gw, f"ws://127.0.0.1:{gw.ocpp_port}", f"http://127.0.0.1:{gw.http_port}")
    await gw.stop()


async def test_invite_mail_show_accept_and_the_charger_follows(
    acme: Org, mailbox: tuple[Mailbox, int]
) -> None:
    box, _ = mailbox
    answer = await acme.owner.post(
        "/invitations",
        json={
            "email": "new@acme.test",
            "role": "Manager",
            "first_name": "Nina",
            "tokens": [{"value": "NEW-BADGE"}],
            "groups": ["night shift"],
            "policy": {"name": "weekdays", "max_concurrent": 1},
        },
    )
    assert answer.status_code == 201, answer.text
    created = answer.json()
    assert created["delivery"] == {"method": "smtp", "sent": True, "error": None}
    assert created["invitation"]["link"] is None  # mailed, not shown to the inviter
    member = created["member"]
    assert member["status"] == "Pending" and member["groups"] == ["night shift"]
    assert member["policy"] == {"name": "weekdays", "max_concurrent": 1}

    mail = box.messages[-1]
    assert mail["From"] == "gateway@acme.test" and "Acme" in mail["Subject"]
    link = box.link_to("new@acme.test")
    assert link.startswith(acme.harness.http + "/api/v1/invitations/accept?token=")

    async with (
        httpx.AsyncClient(timeout=30) as browser,
        ChargePoint16(ACME_STATION, url=acme.harness.url, password=ACME_PASSWORD) as cp,
    ):
        await cp.boot()
        assert (await cp.authorize("NEW-BADGE"))["idTagInfo"]["status"] == "Invalid"  # Pending
        shown = await browser.get(link)
        assert shown.status_code == 200
        assert shown.json() == {
            "organisation": "Acme",
            "email": "new@acme.test",
            "first_name": "Nina",
            "last_name": "",
            "role": "Manager",
            "roles": ["Manager"],
            "expires_at": created["invitation"]["expires_at"],
            "state": "open",
        }
        # Showing accepted nothing.
        listed = await acme.owner.get(f"/members/{member['id']}")
        assert listed.json()["status"] == "Pending"

        accepted = await browser.post(link)
        assert accepted.status_code == 200, accepted.text
        body = accepted.json()
        assert body["member"]["status"] == "Active"
        # No wait: the answer came after the cache saw the member Active.
        assert (await cp.authorize("NEW-BADGE"))["idTagInfo"]["status"] == "Accepted"

        me = await acme.client(body["secret"]).get("/me")
        assert me.status_code == 200 and me.json()["email"] == "new@acme.test"

        again = await browser.post(link)
        assert again.status_code == 409 and again.json()["field"] == "token"
        assert (await browser.get(link)).json()["state"] == "accepted"

    expires = datetime.fromisoformat(created["invitation"]["expires_at"])
    created_at = datetime.fromisoformat(created["invitation"]["created_at"])
    assert expires - created_at == timedelta(hours=TTL_HOURS)
    rows = await acme.harness.db_rows(
        "SELECT actor, action FROM audit_log WHERE target_id = ? ORDER BY id", str(member["id"])
    )
    assert [(r["actor"], r["action"]) for r in rows] == [
        (f"member:{acme.owner_id}", "member.invite"),
        (f"member:{member['id']}", "invitation.accept"),
    ]


async def test_an_expired_invitation_is_refused_and_a_resent_link_replaces_the_old(
    acme: Org, mailbox: tuple[Mailbox, int], clock: MovableClock
) -> None:
    box, _ = mailbox
    created = (await acme.owner.post("/invitations", json={"email": "late@acme.test"})).json()
    member_id = created["member"]["id"]
    first_link = box.link_to("late@acme.test")

    clock.offset = timedelta(hours=TTL_HOURS, minutes=1)
    async with httpx.AsyncClient(timeout=30) as browser:
        assert (await browser.get(first_link)).json()["state"] == "expired"
        refused = await browser.post(first_link)
        assert refused.status_code == 410
        assert "expired" in refused.json()["error"] and refused.json()["field"] == "token"

        resent = await acme.owner.post(f"/members/{member_id}/resend-invitation")
        assert resent.status_code == 200, resent.text
        assert resent.json()["delivery"]["sent"] is True
        assert len([m for m in box.messages if m["To"] == "late@acme.test"]) == 2
        second_link = box.link_to("late@acme.test")
        assert second_link != first_link
        new_expiry = datetime.fromisoformat(resent.json()["invitation"]["expires_at"])
        assert new_expiry > clock() + timedelta(hours=TTL_HOURS - 1)

        # The old link stops working for good, even though it is no longer "expired" news.
        assert (await browser.get(first_link)).json()["state"] == "replaced"
        old = await browser.post(first_link)
        assert old.status_code == 410 and "newer invitation" in old.json()["error"]

        accepted = await browser.post(second_link)
        assert accepted.status_code == 200 and accepted.json()["member"]["status"] == "Active"

    # An Active member has nothing to re-send.
    again = await acme.owner.post(f"/members/{member_id}/resend-invitation")
    assert again.status_code == 409


async def test_a_refused_mail_keeps_the_member_and_invitation_and_says_why(
    acme: Org, mailbox: tuple[Mailbox, int]
) -> None:
    box, _ = mailbox
    answer = await acme.owner.post("/invitations", json={"email": "bounce@acme.test"})
    assert answer.status_code == 201, answer.text
    created = answer.json()
    assert created["delivery"]["sent"] is False
    assert "550" in created["delivery"]["error"]
    assert created["invitation"]["link"] is None
    member = await acme.owner.get(f"/members/{created['member']['id']}")
    assert member.json()["status"] == "Pending"
    rows = await acme.harness.db_rows(
        "SELECT count(*) AS n FROM invitations WHERE member_id = ?", created["member"]["id"]
    )
    assert rows[0]["n"] == 1
    assert box.messages == []


async def test_an_unreachable_smtp_server_keeps_the_invitation(
    acme: Org, mailbox: tuple[Mailbox, int]
) -> None:
    """The SMTP server goes away: the invitation is committed, the answer says why."""
    box, _ = mailbox
    ctx = acme.harness.gateway.admin.ctx
    closed = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = closed.sockets[0].getsockname()[1]
    closed.close()
    await closed.wait_closed()
    ctx.settings = ctx.settings.model_copy(update={"smtp_port": port})
    answer = await acme.owner.post("/invitations", json={"email": "later@acme.test"})
    assert answer.status_code == 201
    delivery = answer.json()["delivery"]
    assert delivery["sent"] is False and "cannot reach SMTP server" in delivery["error"]
    pending = await acme.owner.get("/members", params={"status": "Pending"})
    assert [m["email"] for m in pending.json()["items"]] == ["later@acme.test"]
    assert box.messages == []
