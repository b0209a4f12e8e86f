"""What a charge point sends to open its WebSocket (OCPP-J 1.6 §3.1, 2.0.1 Part 4 §3.1).

The connection URL is the central system's base URL followed by the charge
point identity as the last path segment, percent-encoded (OCPP-J 1.6 §3.1.1).
Security Profile 1 authenticates with HTTP Basic (OCPP 1.6 Security
Whitepaper, Security Profile 1; OCPP 2.0.1 Part 2 A00): the username is the identity and
the password is the ``AuthorizationKey`` / ``BasicAuthPassword``, which 1.6 may
hold as raw bytes, so the header is built from bytes here rather than by
websockets from the URL.
"""

from __future__ import annotations

import base64
from urllib.parse import quote


def station_url(base: str, charge_point_id: str) -> str:
    """``ws://host:port[/path]/<percent-encoded id>``; ``base`` may end in ``/``."""
    separator = "" if base.endswith("/") else "/"
    return f"{base}{separator}{quote(charge_point_id, safe='')}"


def basic_authorization(username: str, password: str | bytes) -> str:
    """The ``Authorization`` header value: ``Basic base64(username ":" password)`` (RFC 7617)."""
    secret = password.encode("utf-8") if isinstance(password, str) else password
    token = base64.b64encode(username.encode("utf-8") + b":" + secret)
    return "Basic " + token.decode("ascii")
