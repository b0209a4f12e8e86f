"""OCPP 2.0.1: the charging station to CSMS messages (OCPP 2.0.1 Part 2)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import structlog

from gateway.ocpp_handlers.common import heartbeat, security_event
from gateway.ocpp_handlers.context import Handlers, Session, authorization_record
from gateway.policy_cache.cache import StartTicket
from gateway.policy_engine import FREE
from gateway.policy_engine.decision import Decision
from gateway.rpc.frames import Call
from gateway.store.transactions import Known201, Stale
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

    What the answer depends on of the transaction (a token recorded already,
    the row an Ended closes) is what the store remembers of it: the write checks
    that against the row and, when it was stale, the event is judged again from
    the row as it is (no read before the write otherwise; a token judged twice is
    logged and counted twice). A token in a later event of a transaction the
    store does not remember (after a restart) is judged from a read.
    """
    p = call.payload
    uid = p["transactionInfo"]["transactionId"]
    token = p.get("idToken")
    ending = p["eventType"] == "Ended"
    transactions = s.services.transactions
    check = bool(token) or ending  # else the answer does not depend on the row
    known = transactions.open_201(s.charge_point_id, uid) if check else None
    if known is None and token and p["eventType"] != "Started":
        known = await transactions.find_201(s.charge_point_id, uid)
    timestamp = parse_ocpp_datetime(p["timestamp"])
    while True:
        ticket, decision = _judge(s, p, token, known, timestamp)
        response: dict[str, Any] = {"idTokenInfo": id_token_info(decision)} if decision else {}
        try:
            outcome = await transactions.transaction_event(
                s.charge_point_id,
                p,
                timestamp,
                authorization_record(decision, ticket.counted_at if ticket else None)
                if decision
                else None,
                response,
                s.now(),
                s.tariff(known.id if known else "") if ending else FREE,  # only an end prices
                check=check,
                expect=known,
            )
        except BaseException:
            if ticket is not None:
                s.services.cache.abort_start(ticket)
            raise
        if not isinstance(outcome, Stale):
            break
        if ticket is not None:
            s.services.cache.abort_start(ticket)
        known, check = outcome.actual, False  # judged again from the row as it is
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


def _judge(
    s: Session,
    p: dict[str, Any],
    token: dict[str, Any] | None,
    known: Known201 | None,
    timestamp: datetime,
) -> tuple[StartTicket | None, Decision | None]:
    """The token of an event: counted as the start when the transaction has none yet."""
    if not token:
        return None, None
    evse = p.get("evse") or {}
    if known is None or not known.has_token:
        ticket = s.begin_start(
            token["idToken"],
            token_type=token["type"],
            evse_id=evse.get("id"),
            connector_id=evse.get("connectorId"),
            reported_start=timestamp,
            offline=bool(p.get("offline")),
        )
        return ticket, ticket.decision
    return None, s.authorize(token["idToken"], token_type=token["type"], evse_id=evse.get("id"))


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
