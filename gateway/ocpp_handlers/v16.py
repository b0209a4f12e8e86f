"""OCPP 1.6J: the charge point to central system messages (OCPP 1.6 §4)."""

from __future__ import annotations

from typing import Any

import structlog

from gateway.logs import token_ref
from gateway.ocpp_handlers.common import heartbeat, security_event
from gateway.ocpp_handlers.context import Handlers, Session, authorization_record
from gateway.policy_engine.decision import Decision
from gateway.rpc.frames import Call
from gateway.timeutil import parse_ocpp_datetime, to_ocpp

log = structlog.get_logger("gateway.ocpp.v16")


def id_tag_info(decision: Decision, status: str | None = None) -> dict[str, Any]:
    """``IdTagInfo`` (§7.24): an Accepted carries the expiry of the rule that allowed it."""
    info: dict[str, Any] = {"status": status or decision.ocpp16_status()}
    if decision.accepted and decision.expires_at is not None:
        info["expiryDate"] = to_ocpp(decision.expires_at)
    if decision.group_id:
        info["parentIdTag"] = decision.group_id[:20]
    return info


async def boot_notification(s: Session, call: Call) -> dict[str, Any]:
    """§4.2: every registered charger is Accepted (unknown ones never got past the handshake)."""
    p = call.payload
    info = {
        "vendor": p.get("chargePointVendor"),
        "model": p.get("chargePointModel"),
        "serial_number": p.get("chargePointSerialNumber"),
        "firmware_version": p.get("firmwareVersion"),
    }
    return await s.accept_boot(info)


def status_notification(s: Session, call: Call) -> dict[str, Any]:
    p = call.payload
    log.info("status", connector_id=p["connectorId"], status=p["status"], error_code=p["errorCode"])
    return {}


def authorize(s: Session, call: Call) -> dict[str, Any]:
    """§4.1."""
    return {"idTagInfo": id_tag_info(s.authorize(call.payload["idTag"]))}


async def start_transaction(s: Session, call: Call) -> dict[str, Any]:
    """§4.8: re-check the idTag and count the start, record it durably (even refused), answer.

    A retry with the same (connector, idTag, timestamp, meterStart) gets the
    same transactionId and the status first given, and is not counted twice.
    """
    p = call.payload
    timestamp = parse_ocpp_datetime(p["timestamp"])
    ticket = s.begin_start(p["idTag"], connector_id=p["connectorId"], reported_start=timestamp)
    decision = ticket.decision
    try:
        started = await s.services.transactions.start_16(
            s.charge_point_id,
            p,
            timestamp,
            authorization_record(decision, ticket.counted_at),
            s.now(),
        )
    except BaseException:
        s.services.cache.abort_start(ticket)
        raise
    s.services.cache.confirm_start(ticket, str(started.transaction_id), replayed=started.replayed)
    if not started.replayed:
        s.services.metrics.open_transactions.inc()
    if not decision.accepted or started.replayed:
        log.info(
            "transaction recorded",
            transaction_id=started.transaction_id,
            status=started.auth_status,
            flagged=started.auth_status != "Accepted",
            replayed=started.replayed,
            token_ref=token_ref(p["idTag"]),
        )
    status = decision.ocpp16_status() if not started.replayed else started.auth_status
    return {"transactionId": started.transaction_id, "idTagInfo": id_tag_info(decision, status)}


async def stop_transaction(s: Session, call: Call) -> dict[str, Any]:
    """§4.10: settle the session; a stop for an unknown transaction is kept in quarantine."""
    p = call.payload
    outcome = await s.services.transactions.stop_16(
        s.charge_point_id,
        call.message_id,
        p,
        parse_ocpp_datetime(p["timestamp"]),
        s.now(),
        s.tariff(p["transactionId"]),
    )
    if not outcome.known:
        s.services.metrics.quarantined.labels("StopTransaction").inc()
        log.warning(
            "stop for an unknown transaction quarantined", transaction_id=p["transactionId"]
        )
    else:
        if outcome.closed:
            s.services.metrics.open_transactions.dec()
        s.ended(outcome.member_id, p["transactionId"], outcome.energy_wh)
    if "idTag" in p:
        return {"idTagInfo": id_tag_info(s.authorize(p["idTag"]))}
    return {}


async def meter_values(s: Session, call: Call) -> dict[str, Any]:
    """§4.7: kept; values for an unknown transaction go to quarantine; caps re-checked."""
    outcome = await s.services.transactions.meter_values(
        s.charge_point_id, "1.6", call.message_id, call.payload, s.now()
    )
    if not outcome.known:
        s.services.metrics.quarantined.labels("MeterValues").inc()
        log.warning(
            "meter values for an unknown transaction quarantined",
            transaction_id=call.payload.get("transactionId"),
        )
    elif outcome.transaction_id is not None:
        s.metered(outcome.member_id, outcome.transaction_id, outcome.energy_wh)
    return {}


def data_transfer(s: Session, call: Call) -> dict[str, Any]:
    """§4.3: no vendor extension is implemented."""
    log.info("data transfer", vendor_id=call.payload["vendorId"])
    return {"status": "UnknownVendorId"}


def notification(s: Session, call: Call) -> dict[str, Any]:
    """Diagnostics/firmware status (§4.4, §4.5): logged."""
    log.info("notification", **{k: v for k, v in call.payload.items() if k == "status"})
    return {}


HANDLERS = Handlers(
    # Answered from memory: run as soon as the frame arrives when nothing is queued.
    immediate={
        "Heartbeat": heartbeat,
        "StatusNotification": status_notification,
        "Authorize": authorize,
        "DataTransfer": data_transfer,
        "DiagnosticsStatusNotification": notification,
        "FirmwareStatusNotification": notification,
        "SecurityEventNotification": security_event,
    },
    # Wait for the database: run by the connection's message pump.
    awaited={
        "BootNotification": boot_notification,
        "StartTransaction": start_transaction,
        "StopTransaction": stop_transaction,
        "MeterValues": meter_values,
    },
)
