"""Handlers whose payload is the same in OCPP 1.6 (security whitepaper) and 2.0.1."""

from __future__ import annotations

from typing import Any

import structlog

from gateway.ocpp_handlers.context import Session
from gateway.rpc.frames import Call
from gateway.timeutil import to_ocpp

log = structlog.get_logger("gateway.ocpp")


def heartbeat(s: Session, call: Call) -> dict[str, Any]:
    """Heartbeat (1.6 §4.6, 2.0.1 G02): the gateway's time."""
    return {"currentTime": to_ocpp(s.now())}


def security_event(s: Session, call: Call) -> dict[str, Any]:
    """SecurityEventNotification (1.6 security whitepaper, 2.0.1 A04): logged and counted."""
    s.services.metrics.security_events.labels("charger_reported").inc()
    log.warning(
        "charger security event", type=call.payload["type"], tech_info=call.payload.get("techInfo")
    )
    return {}
