"""OCPP 2.0.1: the charging station to CSMS messages (OCPP 2.0.1 Part 2)."""

from __future__ import annotations

from typing import Any

import structlog

from gateway.ocpp_handlers.common import heartbeat, security_event
from gateway.ocpp_handlers.context import Handlers, Session, authorization_record
from gateway.policy_engine.decision import Decision
from gateway.rpc.frames import Call
from gateway.timeutil import parse_ocpp_datetime, to_ocpp

log = structlog.get_logger("gateway.ocpp.v201")


def id_token_info(decision: Decision) -> dict[str, Any]:
    """``IdTokenInfoType`` (§2.29): an Accepted carries its cache expiry (C10)."""
    info: dict[str, Any] = {"status": decision.ocpp201_status()}
    if decision.accepted and decision.expires_at is not None:
        info["cacheExpiryDateTime"] = to_ocpp(decision.expires_at)
    if decision.group_id:
        info["groupIdToken"] = {"idToken": decision.group_id[:36], "type": "Central"}
    return info


async def boot_notification(s: Session, call: Call) -> dict[str, Any]:
    """B01: every registered station is Accepted."""
    station = call.payload["chargingStation"]
    info = {
        "vendor": station.get("vendorName"),
        "model": station.get("model"),
        "serial_number": station.get("serialNumber"),
        "firmware_version": station.get("firmwareVersion"),
    }
    return await s.accept_boot(info)


def status_notification(s: Session, call: Call) -> dict[str, Any]:
    p = call.payload
    log.info(
        "status", evse_id=p["evseId"], connector_id=p["connectorId"], status=p["connectorStatus"]
    )
    return {}


def authorize(s: Session, call: Call) -> dict[str, Any]:
    """C01."""
    token = call.payload["idToken"]
    return {"idTokenInfo": id_token_info(s.authorize(token["idToken"], token_type=token["type"]))}


async def transaction_event(s: Session, call: Call) -> dict[str, Any]:
    """E01-E15: every event is recorded, ``offline`` ones included; the token is re-checked.

    The first event carrying a token counts the start against the member's
    caps (an offline one is accepted after the fact and flagged). The same
    (transactionId, seqNo) again changes nothing and gets its first answer.
    When the session must end (cap reached, member deactivated), the answer
    carries the refusal in ``idTokenInfo`` and a RequestStopTransaction follows.
    """
    p = call.payload
    uid = p["transactionInfo"]["transactionId"]
    token = p.get("idToken")
    evse = p.get("evse") or {}
    ticket = None
    decision = None
    known = None
    if token or p["eventType"] == "Ended":
        known = await s.services.transactions.find(s.charge_point_id, uid)
    if token:
        timestamp = parse_ocpp_datetime(p["timestamp"])
        if known is None or known["id_token"] is None:
            ticket = s.begin_start(
                token["idToken"],
                token_type=token["type"],
                evse_id=evse.get("id"),
                connector_id=evse.get("connectorId"),
                offline_at=timestamp if p.get("offline") else None,
            )
            decision = ticket.decision
        else:
            decision = s.authorize(
                token["idToken"], token_type=token["type"], evse_id=evse.get("id")
            )
    response: dict[str, Any] = {"idTokenInfo": id_token_info(decision)} if decision else {}
    try:
        outcome = await s.services.transactions.transaction_event(
            s.charge_point_id,
            p,
            parse_ocpp_datetime(p["timestamp"]),
            authorization_record(decision) if decision else None,
            response,
            s.now(),
            s.tariff(known["id"] if known else ""),
        )
    except BaseException:
        if ticket is not None:
            s.services.cache.abort_start(ticket)
        raise
    if ticket is not None:
        if outcome.first_token:
            s.services.cache.confirm_start(ticket, str(outcome.transaction_id), replayed=False)
        else:
            s.services.cache.abort_start(ticket)
    if outcome.duplicate_response is not None:
        log.info("transaction event repeated", seq_no=p["seqNo"], transaction=uid)
        return outcome.duplicate_response
    if outcome.open_delta:
        s.services.metrics.open_transactions.inc(outcome.open_delta)
    if outcome.seq_gap:
        log.warning(
            "seqNo gap", seq_no=p["seqNo"], missing=outcome.missing_seq_nos, transaction=uid
        )
    if outcome.ended:
        s.ended(outcome.member_id, outcome.transaction_id, outcome.energy_wh)
    elif s.metered(outcome.member_id, outcome.transaction_id, outcome.energy_wh):
        verdict = s.services.cache.recheck(
            outcome.member_id or 0, str(outcome.transaction_id), s.now()
        )
        response = {**response, "idTokenInfo": {"status": verdict.status.value}}
    return response


async def meter_values(s: Session, call: Call) -> dict[str, Any]:
    """J01: kept with the EVSE id."""
    await s.services.transactions.meter_values(
        s.charge_point_id, "2.0.1", call.message_id, call.payload, s.now()
    )
    return {}


def notification(s: Session, call: Call) -> dict[str, Any]:
    """NotifyReport, NotifyEvent, firmware and log status: acknowledged and logged."""
    log.info("notification", action=call.action)
    return {}


HANDLERS = Handlers(
    # Answered from memory: run as soon as the frame arrives when nothing is queued.
    immediate={
        "Heartbeat": heartbeat,
        "StatusNotification": status_notification,
        "Authorize": authorize,
        "NotifyReport": notification,
        "NotifyEvent": notification,
        "SecurityEventNotification": security_event,
        "FirmwareStatusNotification": notification,
        "LogStatusNotification": notification,
    },
    # Wait for the database: run by the connection's message pump.
    awaited={
        "BootNotification": boot_notification,
        "TransactionEvent": transaction_event,
        "MeterValues": meter_values,
    },
)
