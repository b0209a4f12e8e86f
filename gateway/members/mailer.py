"""Invitation e-mail: the message, and its delivery over SMTP (aiosmtplib).

:class:`Mailer` is the seam: the gateway uses :class:`SmtpMailer` when
``[admin] smtp_host`` is set and none otherwise (the activation link is then
returned to the inviter and printed by the command line instead). A failed
delivery raises :class:`MailError` with a reason fit for the operator; it
never undoes the invitation, which is committed before the mail is sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from typing import Protocol

import aiosmtplib

from gateway.config import AdminSettings


class MailError(Exception):
    """The message was not delivered to the SMTP server; the text says why."""


class Mailer(Protocol):
    async def send(self, message: EmailMessage) -> None: ...


@dataclass(frozen=True, slots=True)
class SmtpMailer:
    """Hands messages to the configured SMTP server (STARTTLS and login when configured)."""

    settings: AdminSettings

    async def send(self, message: EmailMessage) -> None:
        s = self.settings
        assert s.smtp_host is not None
        try:
            await aiosmtplib.send(
                message,
                hostname=s.smtp_host,
                port=s.smtp_port,
                username=s.smtp_username,
                password=s.smtp_password,
                start_tls=s.smtp_starttls,
                timeout=s.smtp_timeout,
            )
        except aiosmtplib.SMTPConnectError as exc:  # refused, unreachable, timed out
            raise MailError(f"cannot reach SMTP server {s.smtp_host}:{s.smtp_port}: {exc}") from exc
        except aiosmtplib.SMTPException as exc:
            raise MailError(f"SMTP server {s.smtp_host}:{s.smtp_port}: {exc}") from exc
        except (TimeoutError, OSError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else repr(exc)
            raise MailError(
                f"cannot reach SMTP server {s.smtp_host}:{s.smtp_port}: {reason}"
            ) from exc


def mailer_for(settings: AdminSettings) -> Mailer | None:
    return SmtpMailer(settings) if settings.smtp_host else None


def invitation_message(
    *,
    sender: str,
    to: str,
    organisation: str,
    role: str,
    link: str,
    expires_at: datetime,
) -> EmailMessage:
    """The invitation: who invites, as what, the activation link and until when it works."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = f"Your invitation to {organisation}"
    until = expires_at.strftime("%Y-%m-%d %H:%M UTC")
    message.set_content(
        f"You are invited to join {organisation} as {role}.\n"
        "\n"
        f"Activation link (valid until {until}):\n"
        f"{link}\n"
        "\n"
        "Opening the link shows the invitation; accepting it is a POST to the same link,\n"
        "for example:\n"
        f"    curl -X POST '{link}'\n"
        "The answer holds your first API token. If the link has expired, ask for a new one.\n"
    )
    return message
