"""An OCPP 1.6J charge point (OCPP 1.6 edition 2 §4-§5, OCPP-J 1.6, Security Whitepaper).

Helpers send the charge point's messages (§4) and return the CALLRESULT
payload. The default handlers answer the central system's messages (§5) the
way a compliant charger with no local state would.
"""

from __future__ import annotations

from datetime import datetime
from types import MappingProxyType
from typing import Any

from simulators.base import ChargePointSimulator, Handler, Payload
from simulators.timestamps import ocpp_datetime

ENERGY_REGISTER = "Energy.Active.Import.Register"


def _status(status: str) -> Handler:
    def answer(payload: Payload) -> Payload:
        return {"status": status}

    return answer


def get_local_list_version(payload: Payload) -> Payload:
    """§5.10: 0 means no local authorization list is installed."""
    return {"listVersion": 0}


def get_configuration(payload: Payload) -> Payload:
    """§5.8: this charger knows no key, so every requested key is unknown."""
    return {"configurationKey": [], "unknownKey": list(payload.get("key", []))}


DEFAULT_HANDLERS_16: MappingProxyType[str, Handler] = MappingProxyType(
    {
        "ChangeAvailability": _status("Accepted"),
        "ChangeConfiguration": _status("Accepted"),
        "ClearCache": _status("Accepted"),
        "GetConfiguration": get_configuration,
        "GetLocalListVersion": get_local_list_version,
        "RemoteStartTransaction": _status("Accepted"),
        "RemoteStopTransaction": _status("Accepted"),
        "Reset": _status("Accepted"),
        "SendLocalList": _status("Accepted"),
        "TriggerMessage": _status("Accepted"),
        "UnlockConnector": _status("Unlocked"),
    }
)


def energy_meter_value(energy_wh: float, timestamp: datetime | str | None = None) -> Payload:
    """One ``MeterValue``: the energy register in Wh (§7 SampledValue: a string)."""
    return {
        "timestamp": ocpp_datetime(timestamp),
        "sampledValue": [
            {
                "value": str(energy_wh),
                "context": "Sample.Periodic",
                "measurand": ENERGY_REGISTER,
                "unit": "Wh",
            }
        ],
    }


class ChargePoint16(ChargePointSimulator):
    """A charge point speaking ``ocpp1.6``."""

    __slots__ = ()
    subprotocol_name = "ocpp1.6"
    default_handlers = DEFAULT_HANDLERS_16

    async def boot(
        self, vendor: str = "SimVendor", model: str = "SimModel", **fields: Any
    ) -> Payload:
        """§4.2 BootNotification; ``fields`` are optional fields by their OCPP name
        (``firmwareVersion``, ``chargePointSerialNumber``, ...)."""
        payload = {"chargePointVendor": vendor, "chargePointModel": model, **fields}
        return await self.call("BootNotification", payload)

    async def heartbeat(self) -> Payload:
        """§4.6 Heartbeat."""
        return await self.call("Heartbeat", {})

    async def authorize(self, id_tag: str) -> Payload:
        """§4.1 Authorize."""
        return await self.call("Authorize", {"idTag": id_tag})

    async def start_transaction(
        self,
        connector_id: int,
        id_tag: str,
        meter_start: int,
        *,
        timestamp: datetime | str | None = None,
        reservation_id: int | None = None,
    ) -> Payload:
        """§4.8 StartTransaction."""
        payload: Payload = {
            "connectorId": connector_id,
            "idTag": id_tag,
            "meterStart": meter_start,
            "timestamp": ocpp_datetime(timestamp),
        }
        if reservation_id is not None:
            payload["reservationId"] = reservation_id
        return await self.call("StartTransaction", payload)

    async def stop_transaction(
        self,
        transaction_id: int,
        meter_stop: int,
        *,
        timestamp: datetime | str | None = None,
        id_tag: str | None = None,
        reason: str | None = None,
        transaction_data: list[Payload] | None = None,
    ) -> Payload:
        """§4.10 StopTransaction; ``transaction_data`` is a raw list of MeterValue."""
        payload: Payload = {
            "transactionId": transaction_id,
            "meterStop": meter_stop,
            "timestamp": ocpp_datetime(timestamp),
        }
        if id_tag is not None:
            payload["idTag"] = id_tag
        if reason is not None:
            payload["reason"] = reason
        if transaction_data is not None:
            payload["transactionData"] = transaction_data
        return await self.call("StopTransaction", payload)

    async def meter_values(
        self,
        connector_id: int,
        *,
        transaction_id: int | None = None,
        energy_wh: float | None = None,
        timestamp: datetime | str | None = None,
        meter_value: list[Payload] | None = None,
    ) -> Payload:
        """§4.7 MeterValues: ``energy_wh`` as one sample, or ``meter_value`` as given."""
        if meter_value is None:
            if energy_wh is None:
                raise ValueError("give energy_wh or meter_value")
            meter_value = [energy_meter_value(energy_wh, timestamp)]
        payload: Payload = {"connectorId": connector_id, "meterValue": meter_value}
        if transaction_id is not None:
            payload["transactionId"] = transaction_id
        return await self.call("MeterValues", payload)

    async def status_notification(
        self, connector_id: int, status: str = "Available", error_code: str = "NoError"
    ) -> Payload:
        """§4.9 StatusNotification."""
        payload = {
            "connectorId": connector_id,
            "errorCode": error_code,
            "status": status,
            "timestamp": ocpp_datetime(),
        }
        return await self.call("StatusNotification", payload)

    async def data_transfer(
        self, vendor_id: str, message_id: str | None = None, data: str | None = None
    ) -> Payload:
        """§4.3 DataTransfer; ``message_id`` is the DataTransfer ``messageId`` field."""
        payload: Payload = {"vendorId": vendor_id}
        if message_id is not None:
            payload["messageId"] = message_id
        if data is not None:
            payload["data"] = data
        return await self.call("DataTransfer", payload)

    async def diagnostics_status_notification(self, status: str) -> Payload:
        """§4.4 DiagnosticsStatusNotification."""
        return await self.call("DiagnosticsStatusNotification", {"status": status})

    async def firmware_status_notification(self, status: str) -> Payload:
        """§4.5 FirmwareStatusNotification."""
        return await self.call("FirmwareStatusNotification", {"status": status})

    async def security_event_notification(self, type: str, tech_info: str | None = None) -> Payload:
        """Security Whitepaper SecurityEventNotification (``type``: its Security Events list)."""
        payload: Payload = {"type": type, "timestamp": ocpp_datetime()}
        if tech_info is not None:
            payload["techInfo"] = tech_info
        return await self.call("SecurityEventNotification", payload)
