"""What an OCPP handler may use: the gateway's services and its charger's session.

Handlers are adapters (STYLE.md): map the payload to a domain call, call the
store or the authorizer, map the result back to the version's response.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import structlog

from gateway.authorization import Authorizer
from gateway.logs import token_ref
from gateway.metrics import Metrics
from gateway.policy_engine.decision import Decision
from gateway.rpc.frames import Call
from gateway.store.members import MemberStore
from gateway.store.stations import StationRecord, StationStore
from gateway.store.transactions import Authorization, TransactionStore
from gateway.timeutil import Clock

log = structlog.get_logger("gateway.ocpp")


@dataclass(frozen=True)
class Services:
    """Shared by every connection of one gateway."""

    clock: Clock
    metrics: Metrics
    stations: StationStore
    members: MemberStore
    transactions: TransactionStore
    authorizer: Authorizer
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

    def now(self) -> datetime:
        return self.services.clock()

    def booted_now(self) -> None:
        self.booted = True
        self._on_boot()

    def decide(self, id_token: str) -> Decision:
        """Ask the authorizer; count and log the decision with its reason."""
        now = self.now()
        started = time.perf_counter()
        decision = self.services.authorizer.decide(id_token, self.charge_point_id, now)
        metrics = self.services.metrics
        metrics.decision_seconds.observe(time.perf_counter() - started)
        metrics.authorization_decisions.labels(decision.status.value, decision.reason.rule).inc()
        log.info(
            "authorization decided",
            token_ref=token_ref(id_token),
            status=decision.status.value,
            reason=decision.reason.as_dict(),
        )
        return decision


def authorization_record(decision: Decision) -> Authorization:
    return Authorization(decision.status.value, decision.reason.rule, decision.member_id)


Handler = Callable[[Session, Call], Awaitable[dict[str, Any]]]
