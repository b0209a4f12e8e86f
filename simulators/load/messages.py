"""The CALLs a simulated charger sends under load, per OCPP version (payloads only, no I/O).

Each dialect builds ``(action, payload)`` pairs for the load mix with the same
payload shapes as the library's ``ChargePoint16`` / ``ChargePoint201`` helpers:

====================  =============================  ===================================
step                  OCPP 1.6 (§4)                  OCPP 2.0.1 (Part 2)
====================  =============================  ===================================
boot                  BootNotification               BootNotification (B01)
authorize             Authorize                      Authorize (C01)
heartbeat             Heartbeat                      Heartbeat (G02)
status                StatusNotification             StatusNotification (G01)
meter                 MeterValues (no transaction)   MeterValues (J01)
session start         StartTransaction               TransactionEvent Started (E03)
session meter value   MeterValues (transactionId)    TransactionEvent Updated (E02/J02)
session stop          StopTransaction                TransactionEvent Ended (E06)
====================  =============================  ===================================

The answers to the gateway's own CALLs come from the library's default
handlers (:data:`simulators.v16.DEFAULT_HANDLERS_16`, ``..._201``).
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Mapping
from typing import Any, ClassVar

from simulators.frames import Payload
from simulators.responder import Handler
from simulators.timestamps import ocpp_datetime
from simulators.v16 import DEFAULT_HANDLERS_16
from simulators.v16 import energy_meter_value as meter_value_16
from simulators.v201 import DEFAULT_HANDLERS_201
from simulators.v201 import energy_meter_value as meter_value_201

VERSIONS = {"1.6": "ocpp1.6", "2.0.1": "ocpp2.0.1"}


class Dialect:
    """What differs between the versions for the load mix."""

    version: ClassVar[str]
    subprotocol: ClassVar[str]
    handlers: ClassVar[Mapping[str, Handler]]
    start_action: ClassVar[str]
    update_action: ClassVar[str]
    stop_action: ClassVar[str]

    @classmethod
    def answer(cls, action: str, payload: Payload) -> Payload | None:
        """The default firmware answer to a CALL from the gateway; None: not implemented."""
        handler = cls.handlers.get(action)
        if handler is None:
            return None
        result = handler(payload)
        if inspect.isawaitable(result):  # the load client answers synchronously only
            close = getattr(result, "close", None)
            if close is not None:
                close()
            return None
        return result


class Dialect16(Dialect):
    version = "1.6"
    subprotocol = "ocpp1.6"
    handlers = DEFAULT_HANDLERS_16
    start_action, update_action, stop_action = "StartTransaction", "MeterValues", "StopTransaction"

    @staticmethod
    def boot() -> tuple[str, Payload]:
        return "BootNotification", {"chargePointVendor": "SimVendor", "chargePointModel": "LoadSim"}

    @staticmethod
    def authorize(token: str) -> tuple[str, Payload]:
        return "Authorize", {"idTag": token}

    @staticmethod
    def heartbeat() -> tuple[str, Payload]:
        return "Heartbeat", {}

    @staticmethod
    def status(status: str = "Available") -> tuple[str, Payload]:
        return "StatusNotification", {
            "connectorId": 1,
            "errorCode": "NoError",
            "status": status,
            "timestamp": ocpp_datetime(),
        }

    @staticmethod
    def meter(energy_wh: int) -> tuple[str, Payload]:
        return "MeterValues", {"connectorId": 1, "meterValue": [meter_value_16(energy_wh)]}

    @staticmethod
    def start(token: str, energy_wh: int) -> tuple[str, Payload]:
        return "StartTransaction", {
            "connectorId": 1,
            "idTag": token,
            "meterStart": energy_wh,
            "timestamp": ocpp_datetime(),
        }

    @staticmethod
    def update(transaction: Any, seq_no: int, energy_wh: int) -> tuple[str, Payload]:
        return "MeterValues", {
            "connectorId": 1,
            "transactionId": transaction,
            "meterValue": [meter_value_16(energy_wh)],
        }

    @staticmethod
    def stop(transaction: Any, seq_no: int, energy_wh: int) -> tuple[str, Payload]:
        return "StopTransaction", {
            "transactionId": transaction,
            "meterStop": energy_wh,
            "timestamp": ocpp_datetime(),
            "reason": "Local",
        }


class Dialect201(Dialect):
    version = "2.0.1"
    subprotocol = "ocpp2.0.1"
    handlers = DEFAULT_HANDLERS_201
    start_action = update_action = stop_action = "TransactionEvent"

    @staticmethod
    def boot() -> tuple[str, Payload]:
        station = {"model": "LoadSim", "vendorName": "SimVendor"}
        return "BootNotification", {"reason": "PowerUp", "chargingStation": station}

    @staticmethod
    def authorize(token: str) -> tuple[str, Payload]:
        return "Authorize", {"idToken": {"idToken": token, "type": "ISO14443"}}

    @staticmethod
    def heartbeat() -> tuple[str, Payload]:
        return "Heartbeat", {}

    @staticmethod
    def status(status: str = "Available") -> tuple[str, Payload]:
        return "StatusNotification", {
            "timestamp": ocpp_datetime(),
            "connectorStatus": status,
            "evseId": 1,
            "connectorId": 1,
        }

    @staticmethod
    def meter(energy_wh: int) -> tuple[str, Payload]:
        value = meter_value_201(energy_wh, "Sample.Periodic", ocpp_datetime())
        return "MeterValues", {"evseId": 1, "meterValue": [value]}

    @staticmethod
    def _event(
        event_type: str, transaction: str, seq_no: int, trigger: str, energy_wh: int
    ) -> Payload:
        when = ocpp_datetime()
        context = {"Started": "Transaction.Begin", "Ended": "Transaction.End"}
        return {
            "eventType": event_type,
            "timestamp": when,
            "triggerReason": trigger,
            "seqNo": seq_no,
            "transactionInfo": {"transactionId": transaction},
            "evse": {"id": 1, "connectorId": 1},
            "meterValue": [
                meter_value_201(energy_wh, context.get(event_type, "Sample.Periodic"), when)
            ],
        }

    @classmethod
    def start(cls, token: str, energy_wh: int) -> tuple[str, Payload]:
        payload = cls._event("Started", str(uuid.uuid4()), 0, "Authorized", energy_wh)
        payload["idToken"] = {"idToken": token, "type": "ISO14443"}
        payload["transactionInfo"]["chargingState"] = "Charging"
        return "TransactionEvent", payload

    @classmethod
    def update(cls, transaction: Any, seq_no: int, energy_wh: int) -> tuple[str, Payload]:
        return "TransactionEvent", cls._event(
            "Updated", transaction, seq_no, "MeterValuePeriodic", energy_wh
        )

    @classmethod
    def stop(cls, transaction: Any, seq_no: int, energy_wh: int) -> tuple[str, Payload]:
        payload = cls._event("Ended", transaction, seq_no, "StopAuthorized", energy_wh)
        payload["transactionInfo"]["stoppedReason"] = "Local"
        return "TransactionEvent", payload


DIALECTS: dict[str, type[Dialect16] | type[Dialect201]] = {"1.6": Dialect16, "2.0.1": Dialect201}


def transaction_of(version: str, request: Payload, response: Payload) -> Any:
    """The reference later messages of a session use: 1.6 the gateway's ``transactionId``
    from the answer, 2.0.1 the charger's own ``transactionInfo.transactionId``."""
    if version == "1.6":
        return response.get("transactionId")
    return request["transactionInfo"]["transactionId"]
