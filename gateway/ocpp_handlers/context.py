"""What an OCPP handler may use: the gateway's services and its charger's session.

Handlers are adapters (STYLE.md): map the payload to a domain call, call the
store or the authorizer, map the result back to the version's response.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any, Protocol

import structlog

from gateway.enforcement import Enforcer
from gateway.logs import HotLogger, token_ref
from gateway.metrics import Metrics
from gateway.policy_cache.cache import PolicyCache, StartTicket
from gateway.policy_engine import (
    AuthRequest,
    Decision,
    Purpose,
    Tariff,
    TokenType,
    counted_start,
)
from gateway.rpc.frames import Call
from gateway.store.members import MemberStore
from gateway.store.stations import StationRecord, StationStore
from gateway.store.transactions import Authorization, TransactionStore
from gateway.timeutil import Clock, to_ocpp, to_text

log = structlog.get_logger("gateway.ocpp")


@dataclass(frozen=True)
class Services:
    """Shared by every connection of one gateway."""

    clock: Clock
    metrics: Metrics
    stations: StationStore
    members: MemberStore
    transactions: TransactionStore
    cache: PolicyCache
    enforcer: Enforcer
    heartbeat_interval: int


class Outbound(Protocol):
    """The owned, per-connection path for CALLs from the gateway to its charger."""

    async def call(
        self, action: str, payload: dict[str, Any], timeout: float | None = None
    ) -> dict[str, Any]: ...

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None: ...


class Session:
    """One connected charger: identity, negotiated version, boot state."""

    def __init__(
        self,
        station: StationRecord,
        ocpp_version: str,
        services: Services,
        outbound: Outbound,
        on_boot: Callable[[], None],
    ) -> None:
        self.station = station
        self.charge_point_id = station.charge_point_id
        self.ocpp_version = ocpp_version
        self.services = services
        self.outbound = outbound
        self.booted = station.accepted_once
        self._on_boot = on_boot
        # The decision line, one per Authorize: bound once per connection, written
        # without structlog's chain when the output is buffered JSON (see HotLogger).
        self._log = HotLogger(
            "gateway.ocpp", charge_point_id=self.charge_point_id, ocpp_version=ocpp_version
        )

    def now(self) -> datetime:
        return self.services.clock()

    async def accept_boot(self, info: dict[str, str | None]) -> dict[str, Any]:
        """BootNotification (1.6 §4.2, 2.0.1 B01): every registered charger is Accepted.

        Unknown chargers never got past the handshake. The boot is remembered
        (a charger accepted once may reconnect without booting again) and
        starts a new message-id space for the replay cache.
        """
        await self.services.stations.record_boot(
            self.charge_point_id, self.ocpp_version, info, self.now()
        )
        self.booted = True
        self._on_boot()
        return {
            "status": "Accepted",
            "currentTime": to_ocpp(self.now()),
            "interval": self.services.heartbeat_interval,
        }

    def _request(
        self,
        id_token: str,
        purpose: Purpose,
        token_type: str | None,
        connector_id: int | None,
        evse_id: int | None,
    ) -> AuthRequest:
        kind = TokenType(token_type) if token_type in _TOKEN_TYPES else None
        return AuthRequest(id_token, self.charge_point_id, purpose, connector_id, evse_id, kind)

    def authorize(
        self,
        id_token: str,
        *,
        token_type: str | None = None,
        connector_id: int | None = None,
        evse_id: int | None = None,
    ) -> Decision:
        """Authorize (1.6 §4.1, 2.0.1 C01): decide from memory, count and log the decision."""
        request = self._request(id_token, Purpose.AUTHORIZE, token_type, connector_id, evse_id)
        started = time.perf_counter()
        decision = self.services.cache.decide(request, self.now())
        self._record(id_token, decision, started)
        return decision

    def begin_start(
        self,
        id_token: str,
        *,
        token_type: str | None = None,
        connector_id: int | None = None,
        evse_id: int | None = None,
        reported_start: datetime,
        offline: bool = False,
    ) -> StartTicket:
        """Re-check the token at a start and count the start (see ``PolicyCache.begin_start``).

        The start counts at ``counted_start(reported_start, now)``; an offline
        start (2.0.1) is judged at the time it happened, others now.
        """
        request = self._request(id_token, Purpose.START, token_type, connector_id, evse_id)
        started = time.perf_counter()
        now = self.now()
        counted_at = counted_start(reported_start, now)
        if counted_at != reported_start:
            log.warning(
                "start time not believed: counted when received",
                reported=to_text(reported_start),
                counted=to_text(counted_at),
            )
        ticket = self.services.cache.begin_start(
            request, reported_start if offline else now, offline=offline, counted_at=counted_at
        )
        self._record(id_token, ticket.decision, started)
        return ticket

    def _record(self, id_token: str, decision: Decision, started: float) -> None:
        metrics = self.services.metrics
        metrics.decision_seconds.observe(time.perf_counter() - started)
        status, reason, flagged = decision.status.value, decision.reason, decision.flagged
        metrics.child(metrics.authorization_decisions, status, reason.rule).inc()
        self._log.info(
            "authorization decided",
            token_ref=token_ref(id_token),
            status=status,
            reason=reason.as_dict(),
            flagged=flagged.rule if flagged else None,
        )

    def metered(self, member_id: int | None, transaction_id: int, energy_wh: int | None) -> bool:
        """New energy for a running transaction; True when the gateway is stopping it."""
        if member_id is None or energy_wh is None:
            return False
        session = str(transaction_id)
        verdict = self.services.cache.meter(member_id, session, energy_wh, self.now())
        return self.services.enforcer.apply(session, self.charge_point_id, verdict)

    def ended(self, member_id: int | None, transaction_id: int, energy_wh: int | None) -> None:
        session = str(transaction_id)
        if member_id is not None:
            self.services.cache.stop(member_id, session, energy_wh)
        self.services.enforcer.forget(session)

    def tariff(self, transaction_id: int | str) -> Tariff:
        """The tariff a transaction is charged at (fixed at its start)."""
        return self.services.cache.session_tariff(str(transaction_id), self.charge_point_id)


_TOKEN_TYPES = frozenset(t.value for t in TokenType)


def authorization_record(decision: Decision, counted_at: datetime | None = None) -> Authorization:
    """How a transaction's token was judged; refused or rule-breaking starts are flagged.

    ``counted_at``: for the token that started the transaction, the instant it counts at.
    """
    flagged = decision.flagged
    return Authorization(
        decision.status.value,
        flagged.rule if flagged is not None else decision.reason.rule,
        decision.member_id,
        flagged is not None or not decision.accepted,
        counted_at,
    )


Handler = Callable[[Session, Call], Awaitable[dict[str, Any]]]
"""A handler that waits for I/O (the database): run by the connection's message pump."""
ImmediateHandler = Callable[[Session, Call], dict[str, Any]]
"""A handler that answers from memory without waiting: may run as soon as its frame arrives."""


@dataclass(frozen=True)
class Handlers:
    """One OCPP version's handlers for the CALLs a charger sends, by action."""

    immediate: Mapping[str, ImmediateHandler]
    awaited: Mapping[str, Handler]

    def actions(self) -> list[str]:
        return [*self.immediate, *self.awaited]

    @cached_property
    def immediate_on_the_wire(self) -> frozenset[bytes]:
        """The immediate actions as they appear in a frame (read before parsing it)."""
        return frozenset(name.encode() for name in self.immediate)

    @cached_property
    def awaited_on_the_wire(self) -> frozenset[bytes]:
        """The awaited actions as they appear in a frame, BootNotification aside (it is
        handled by the pump, before which nothing else is)."""
        return frozenset(name.encode() for name in self.awaited if name != "BootNotification")
