"""Ending sessions that break their rules while they run (PRODUCT.md: "re-checked").

The cache's verdict (``recheck_running``) says stop, observe or continue. A
stop is asked of the charger once per session through its connection's owned
call path: OCPP 1.6 RemoteStopTransaction (§5.12), OCPP 2.0.1
RequestStopTransaction (F03). In observe mode the breach is logged and
counted, and the session runs on. Either way the transaction row records why.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import structlog

from gateway.metrics import Metrics
from gateway.policy_engine import Action, RunningVerdict
from gateway.store.transactions import TransactionStore

log = structlog.get_logger("gateway.enforcement")


class Charger(Protocol):
    async def call(
        self, action: str, payload: dict[str, Any], timeout: float | None = None
    ) -> dict[str, Any]: ...

    def spawn(self, coro: Any, name: str) -> None: ...


class Enforcer:
    def __init__(
        self,
        transactions: TransactionStore,
        metrics: Metrics,
        charger: Callable[[str], Charger | None],
    ) -> None:
        self._transactions = transactions
        self._metrics = metrics
        self._charger = charger
        self._acted: set[str] = set()

    def apply(self, session_id: str, station_id: str, verdict: RunningVerdict) -> bool:
        """Act on a verdict; True when the session is being stopped."""
        if verdict.action is Action.CONTINUE or session_id in self._acted:
            return verdict.action is Action.STOP
        self._acted.add(session_id)
        rule = verdict.reason.rule
        self._metrics.policy_breaches.labels(rule, verdict.action.value).inc()
        log.warning(
            "running session breaks a rule",
            transaction=session_id,
            rule=rule,
            status=verdict.status.value,
            action=verdict.action.value,
            reason=verdict.reason.as_dict(),
        )
        charger = self._charger(station_id)
        if verdict.action is Action.STOP:
            if charger is None:
                log.warning(
                    "cannot stop the session: charger not connected",
                    transaction=session_id,
                    charge_point_id=station_id,
                )
                self._acted.discard(session_id)  # try again at its next meter value
                return True
            charger.spawn(self._stop(charger, session_id, rule), f"stop-{session_id}")
            return True
        return False

    def forget(self, session_id: str) -> None:
        self._acted.discard(session_id)

    async def _stop(self, charger: Charger, session_id: str, rule: str) -> None:
        row = await self._transactions.mark_stop_requested(int(session_id), rule)
        if row is None:
            return
        if row["ocpp_version"] == "1.6":
            action, payload = "RemoteStopTransaction", {"transactionId": int(session_id)}
        else:
            action, payload = "RequestStopTransaction", {"transactionId": row["transaction_uid"]}
        try:
            answer = await charger.call(action, payload)
        except Exception as exc:
            log.error("stop request failed", transaction=session_id, error=repr(exc))
            self._acted.discard(session_id)
            return
        self._metrics.sessions_stopped.labels(rule).inc()
        log.info("stop requested", transaction=session_id, answer=answer.get("status"))
