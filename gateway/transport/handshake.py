"""Who may open a WebSocket, decided before the upgrade (OCPP-J 1.6 §3, 2.0.1 Part 4 §3, A00).

In order: the identity (last path segment, percent-decoded, 1-48 characters
of OCPP's identifierString without ``:``) or **400**; the gateway able to
store what chargers send or **503** with ``Retry-After`` (not a failure of the
address: the charger keeps its queued messages and comes back); the station is known or
**404**; HTTP Basic credentials (Security Profile 1; the username equals the
identity) or **401** with ``WWW-Authenticate``. Each 400/401/404 counts as a
failure of the remote address; past the budget (see ``FailureThrottle``) the
address gets **429** with ``Retry-After`` instead of a slow password check.
A password check holds its place in the budget while it runs, so attempts
arriving together cannot start more checks than the budget allows.
The station record is attached to the connection for the session.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Awaitable, Callable, Sequence
from http import HTTPStatus
from urllib.parse import unquote, urlsplit

import structlog
from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from gateway.metrics import Metrics
from gateway.security.passwords import VerifiedCache
from gateway.security.throttle import FailureThrottle
from gateway.store.health import RETRY_AFTER_SECONDS
from gateway.store.stations import StationRecord

_IDENTITY = re.compile(r"[A-Za-z0-9*\-_=+|@.]{1,48}")
log = structlog.get_logger("gateway.handshake")

StationLookup = Callable[[str], Awaitable[StationRecord | None]]
PasswordCheck = Callable[[str, bytes, str], Awaitable[bool]]
"""(stored hash, password received, remote address) -> whether they match (see
``PasswordVerifier``)."""


def charge_point_identity(path: str) -> str | None:
    """The identity from the request path, or None when it is malformed."""
    raw = urlsplit(path).path.rsplit("/", 1)[-1]
    identity = unquote(raw, errors="strict") if "%" in raw else raw
    return identity if _IDENTITY.fullmatch(identity) else None


def basic_credentials(header: str | None) -> tuple[str, bytes] | None:
    """(username, password bytes) from an ``Authorization: Basic`` header."""
    if header is None:
        return None
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
        user, sep, password = decoded.partition(b":")
        return (user.decode("utf-8"), password) if sep else None
    except (binascii.Error, UnicodeDecodeError):
        return None


class Handshake:
    def __init__(
        self,
        stations: StationLookup,
        throttle: FailureThrottle,
        verified: VerifiedCache,
        metrics: Metrics,
        verify: PasswordCheck,
        unavailable: Callable[[], str | None],
    ) -> None:
        self._verify = verify
        self._unavailable = unavailable
        self._stations = stations
        self._throttle = throttle
        self._verified = verified
        self._metrics = metrics

    def _refuse(
        self,
        connection: ServerConnection,
        status: HTTPStatus,
        cause: str,
        address: str,
        identity: str | None,
        *,
        count_failure: bool = True,
    ) -> Response:
        self._metrics.connections_refused.labels(cause).inc()
        if count_failure:
            self._throttle.record_failure(address)
        log.warning(
            "connection refused",
            cause=cause,
            status=int(status),
            remote=address,
            charge_point_id=identity,
        )
        response = connection.respond(status, f"{status.phrase}: {cause}\n")
        if status is HTTPStatus.UNAUTHORIZED:
            response.headers["WWW-Authenticate"] = 'Basic realm="ocpp-gateway", charset="UTF-8"'
        return response

    def _throttled(
        self, connection: ServerConnection, address: str, identity: str | None, retry_after: float
    ) -> Response:
        self._metrics.connections_refused.labels("throttled").inc()
        self._metrics.security_events.labels("auth_throttled").inc()
        log.warning("connection throttled", remote=address, charge_point_id=identity)
        response = connection.respond(HTTPStatus.TOO_MANY_REQUESTS, "Too Many Requests\n")
        response.headers["Retry-After"] = str(max(1, int(retry_after + 0.999)))
        return response

    async def __call__(self, connection: ServerConnection, request: Request) -> Response | None:
        address = str(connection.remote_address[0]) if connection.remote_address else "?"
        try:
            identity = charge_point_identity(request.path)
        except UnicodeDecodeError:
            identity = None
        if identity is None:
            return self._refuse(connection, HTTPStatus.BAD_REQUEST, "bad_identity", address, None)
        if self._unavailable() is not None:
            response = self._refuse(
                connection,
                HTTPStatus.SERVICE_UNAVAILABLE,
                "storage_unavailable",
                address,
                identity,
                count_failure=False,
            )
            response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
            return response
        station = await self._stations(identity)
        retry_after = self._throttle.retry_after(address)  # failures while we looked count
        if station is None:
            if retry_after is not None:
                return self._throttled(connection, address, identity, retry_after)
            return self._refuse(
                connection, HTTPStatus.NOT_FOUND, "unknown_station", address, identity
            )
        credentials = basic_credentials(request.headers.get("Authorization"))
        if credentials is None or credentials[0] != identity:
            if retry_after is not None:
                return self._throttled(connection, address, identity, retry_after)
            cause = "missing_credentials" if credentials is None else "wrong_username"
            return self._refuse(connection, HTTPStatus.UNAUTHORIZED, cause, address, identity)
        password = credentials[1]
        if not self._verified.check(identity, station.password_hash, password):
            if not self._throttle.begin_check(address):
                retry_after = self._throttle.retry_after(address) or 0.0
                return self._throttled(connection, address, identity, retry_after)
            ok = False
            try:
                ok = await self._verify(station.password_hash, password, address)
            finally:  # abandoned (the charger left): counted as a failure
                self._throttle.end_check(address, failed=not ok)
            self._metrics.password_checks.labels("match" if ok else "mismatch").inc()
            if not ok:
                self._metrics.security_events.labels("bad_credentials").inc()
                return self._refuse(
                    connection,
                    HTTPStatus.UNAUTHORIZED,
                    "bad_credentials",
                    address,
                    identity,
                    count_failure=False,  # end_check counted it
                )
            self._verified.remember(identity, station.password_hash, password)
        connection.station = station  # type: ignore[attr-defined]
        return None


def select_subprotocol(
    connection: ServerConnection, offered: Sequence[Subprotocol]
) -> Subprotocol | None:
    """The charger's first preference among ours (OCPP-J 1.6 §3.1.2, 2.0.1 Part 4 §3.1.2).

    None completes the handshake without ``Sec-WebSocket-Protocol``; the
    connection handler then closes it with 1002, as the spec requires.
    """
    for name in offered:
        if name in SUBPROTOCOLS:
            return name
    return None


SUBPROTOCOLS = {"ocpp1.6": "1.6", "ocpp2.0.1": "2.0.1"}
