"""An OCPP 2.0.1 charging station (OCPP 2.0.1 Part 2 use cases, Part 4 OCPP-J).

Helpers send the station's messages and return the CALLRESULT payload. The
``start_transaction`` / ``update_transaction`` / ``end_transaction`` trio
numbers each transaction's TransactionEvents (``seqNo`` from 0, E01-E06); the
raw :meth:`ChargePoint201.transaction_event` sends any event as given. The
default handlers answer the CSMS like a station with no local state.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any, Unpack

from simulators.base import ChargePointSimulator, Handler, Payload, SimulatorOptions
from simulators.timestamps import ocpp_datetime

ENERGY_REGISTER = "Energy.Active.Import.Register"
_CONTEXT = {"Started": "Transaction.Begin", "Ended": "Transaction.End"}


def _status(status: str) -> Handler:
    def answer(payload: Payload) -> Payload:
        return {"status": status}

    return answer


def get_local_list_version(payload: Payload) -> Payload:
    """D02: 0 means no local authorization list is installed."""
    return {"versionNumber": 0}


def set_variables(payload: Payload) -> Payload:
    """B05: every variable is accepted (and forgotten)."""
    results = []
    for item in payload.get("setVariableData", []):
        result = {
            "attributeStatus": "Accepted",
            "component": item.get("component"),
            "variable": item.get("variable"),
        }
        if "attributeType" in item:
            result["attributeType"] = item["attributeType"]
        results.append(result)
    return {"setVariableResult": results}


def get_variables(payload: Payload) -> Payload:
    """B06: this station reports no variable, so each one is UnknownVariable."""
    results = []
    for item in payload.get("getVariableData", []):
        result = {
            "attributeStatus": "UnknownVariable",
            "component": item.get("component"),
            "variable": item.get("variable"),
        }
        if "attributeType" in item:
            result["attributeType"] = item["attributeType"]
        results.append(result)
    return {"getVariableResult": results}


DEFAULT_HANDLERS_201: MappingProxyType[str, Handler] = MappingProxyType(
    {
        "ChangeAvailability": _status("Accepted"),
        "ClearCache": _status("Accepted"),
        "GetLocalListVersion": get_local_list_version,
        "GetVariables": get_variables,
        "RequestStartTransaction": _status("Accepted"),
        "RequestStopTransaction": _status("Accepted"),
        "Reset": _status("Accepted"),
        "SendLocalList": _status("Accepted"),
        "SetVariables": set_variables,
        "TriggerMessage": _status("Accepted"),
        "UnlockConnector": _status("Unlocked"),
    }
)


def energy_meter_value(energy_wh: float, context: str, timestamp: str) -> Payload:
    """One ``MeterValueType`` with the energy register in Wh (SampledValueType: a number)."""
    return {
        "timestamp": timestamp,
        "sampledValue": [
            {
                "value": energy_wh,
                "context": context,
                "measurand": ENERGY_REGISTER,
                "unitOfMeasure": {"unit": "Wh"},
            }
        ],
    }


@dataclass(slots=True)
class _Transaction:
    next_seq_no: int
    evse_id: int | None
    connector_id: int | None


class ChargePoint201(ChargePointSimulator):
    """A charging station speaking ``ocpp2.0.1``."""

    __slots__ = ("_transactions",)
    subprotocol_name = "ocpp2.0.1"
    default_handlers = DEFAULT_HANDLERS_201

    def __init__(self, charge_point_id: str, **options: Unpack[SimulatorOptions]) -> None:
        super().__init__(charge_point_id, **options)
        self._transactions: dict[str, _Transaction] = {}

    async def boot(
        self,
        reason: str = "PowerUp",
        model: str = "SimModel",
        vendor_name: str = "SimVendor",
        **charging_station: Any,
    ) -> Payload:
        """B01 BootNotification; ``charging_station`` adds ``ChargingStationType``
        fields by their OCPP name (``serialNumber``, ``firmwareVersion``, ``modem``)."""
        station = {"model": model, "vendorName": vendor_name, **charging_station}
        return await self.call("BootNotification", {"reason": reason, "chargingStation": station})

    async def heartbeat(self) -> Payload:
        """G02 Heartbeat."""
        return await self.call("Heartbeat", {})

    async def authorize(self, id_token: str, token_type: str = "ISO14443") -> Payload:
        """C01 Authorize."""
        return await self.call("Authorize", {"idToken": {"idToken": id_token, "type": token_type}})

    async def transaction_event(
        self,
        event_type: str,
        transaction_id: str,
        seq_no: int,
        trigger_reason: str,
        *,
        id_token: str | None = None,
        token_type: str = "ISO14443",
        evse_id: int | None = 1,
        connector_id: int | None = 1,
        meter_wh: float | None = None,
        offline: bool = False,
        timestamp: datetime | str | None = None,
        charging_state: str | None = None,
        stopped_reason: str | None = None,
        remote_start_id: int | None = None,
    ) -> Payload:
        """E01-E15 TransactionEvent, exactly as given; ``evse_id=None`` omits ``evse``.

        The automatic ``seqNo`` of this transaction moves past ``seq_no``.
        """
        when = ocpp_datetime(timestamp)
        info: Payload = {"transactionId": transaction_id}
        if charging_state is not None:
            info["chargingState"] = charging_state
        if stopped_reason is not None:
            info["stoppedReason"] = stopped_reason
        if remote_start_id is not None:
            info["remoteStartId"] = remote_start_id
        payload: Payload = {
            "eventType": event_type,
            "timestamp": when,
            "triggerReason": trigger_reason,
            "seqNo": seq_no,
            "transactionInfo": info,
        }
        if offline:
            payload["offline"] = True
        if evse_id is not None:
            payload["evse"] = {"id": evse_id}
            if connector_id is not None:
                payload["evse"]["connectorId"] = connector_id
        if id_token is not None:
            payload["idToken"] = {"idToken": id_token, "type": token_type}
        if meter_wh is not None:
            context = _CONTEXT.get(event_type, "Sample.Periodic")
            payload["meterValue"] = [energy_meter_value(meter_wh, context, when)]
        self._track(event_type, transaction_id, seq_no, evse_id, connector_id)
        return await self.call("TransactionEvent", payload)

    async def start_transaction(
        self,
        id_token: str,
        *,
        transaction_id: str | None = None,
        evse_id: int = 1,
        meter_wh: float = 0,
        token_type: str = "ISO14443",
        offline: bool = False,
        trigger_reason: str = "Authorized",
        remote_start_id: int | None = None,
        timestamp: datetime | str | None = None,
    ) -> tuple[str, Payload]:
        """E03 TransactionEvent(Started), seqNo 0; returns (transactionId, response)."""
        transaction_id = str(uuid.uuid4()) if transaction_id is None else transaction_id
        response = await self.transaction_event(
            "Started",
            transaction_id,
            self._next_seq_no(transaction_id),
            trigger_reason,
            id_token=id_token,
            token_type=token_type,
            evse_id=evse_id,
            meter_wh=meter_wh,
            offline=offline,
            timestamp=timestamp,
            charging_state="Charging",
            remote_start_id=remote_start_id,
        )
        return transaction_id, response

    async def update_transaction(
        self,
        transaction_id: str,
        meter_wh: float,
        *,
        trigger_reason: str = "MeterValuePeriodic",
        offline: bool = False,
        timestamp: datetime | str | None = None,
    ) -> Payload:
        """E02/J02 TransactionEvent(Updated) with the next seqNo and the meter."""
        return await self._follow_up(
            "Updated",
            transaction_id,
            meter_wh,
            trigger_reason=trigger_reason,
            offline=offline,
            timestamp=timestamp,
        )

    async def end_transaction(
        self,
        transaction_id: str,
        meter_wh: float,
        *,
        stopped_reason: str = "Local",
        trigger_reason: str = "StopAuthorized",
        id_token: str | None = None,
        offline: bool = False,
        timestamp: datetime | str | None = None,
    ) -> Payload:
        """E06 TransactionEvent(Ended) with the next seqNo, the meter and the reason."""
        return await self._follow_up(
            "Ended",
            transaction_id,
            meter_wh,
            trigger_reason=trigger_reason,
            stopped_reason=stopped_reason,
            id_token=id_token,
            offline=offline,
            timestamp=timestamp,
        )

    async def status_notification(
        self, evse_id: int, connector_id: int, status: str = "Available"
    ) -> Payload:
        """G01 StatusNotification."""
        payload = {
            "timestamp": ocpp_datetime(),
            "connectorStatus": status,
            "evseId": evse_id,
            "connectorId": connector_id,
        }
        return await self.call("StatusNotification", payload)

    async def meter_values(self, evse_id: int, energy_wh: float) -> Payload:
        """J01 MeterValues, outside a transaction."""
        meter_value = energy_meter_value(energy_wh, "Sample.Periodic", ocpp_datetime())
        return await self.call("MeterValues", {"evseId": evse_id, "meterValue": [meter_value]})

    async def notify_report(
        self,
        request_id: int,
        seq_no: int,
        report_data: list[Payload] | None = None,
        tbc: bool = False,
    ) -> Payload:
        """B07/B08 NotifyReport, one part of a report (``tbc``: more parts follow)."""
        payload: Payload = {
            "requestId": request_id,
            "generatedAt": ocpp_datetime(),
            "seqNo": seq_no,
            "tbc": tbc,
        }
        if report_data is not None:
            payload["reportData"] = report_data
        return await self.call("NotifyReport", payload)

    async def notify_event(self, data: list[Payload] | None = None) -> Payload:
        """N07 NotifyEvent; ``data`` is the ``eventData`` list (default: one Problem alert)."""
        if data is None:
            data = [
                {
                    "eventId": 1,
                    "timestamp": ocpp_datetime(),
                    "trigger": "Alerting",
                    "actualValue": "true",
                    "eventNotificationType": "HardWiredNotification",
                    "component": {"name": "ChargingStation"},
                    "variable": {"name": "Problem"},
                }
            ]
        payload = {"generatedAt": ocpp_datetime(), "seqNo": 0, "eventData": data}
        return await self.call("NotifyEvent", payload)

    async def security_event_notification(self, type: str, tech_info: str | None = None) -> Payload:
        """A04 SecurityEventNotification."""
        payload: Payload = {"type": type, "timestamp": ocpp_datetime()}
        if tech_info is not None:
            payload["techInfo"] = tech_info
        return await self.call("SecurityEventNotification", payload)

    async def firmware_status_notification(self, status: str) -> Payload:
        """L01 FirmwareStatusNotification."""
        return await self.call("FirmwareStatusNotification", {"status": status})

    async def log_status_notification(self, status: str) -> Payload:
        """N01 LogStatusNotification."""
        return await self.call("LogStatusNotification", {"status": status})

    # seqNo bookkeeping: 0 for a transaction's first TransactionEvent, then one more per event

    def _next_seq_no(self, transaction_id: str) -> int:
        known = self._transactions.get(transaction_id)
        return 0 if known is None else known.next_seq_no

    def _track(
        self,
        event_type: str,
        transaction_id: str,
        seq_no: int,
        evse_id: int | None,
        connector_id: int | None,
    ) -> None:
        if event_type == "Ended":
            self._transactions.pop(transaction_id, None)
            return
        known = self._transactions.get(transaction_id)
        if known is None:
            self._transactions[transaction_id] = _Transaction(seq_no + 1, evse_id, connector_id)
        else:
            known.next_seq_no = max(known.next_seq_no, seq_no + 1)

    async def _follow_up(
        self, event_type: str, transaction_id: str, meter_wh: float, **fields: Any
    ) -> Payload:
        """The next event of a transaction, on the EVSE it started on."""
        known = self._transactions.get(transaction_id)
        return await self.transaction_event(
            event_type,
            transaction_id,
            self._next_seq_no(transaction_id),
            meter_wh=meter_wh,
            evse_id=1 if known is None else known.evse_id,
            connector_id=1 if known is None else known.connector_id,
            **fields,
        )
