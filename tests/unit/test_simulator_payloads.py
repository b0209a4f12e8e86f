"""Every message the simulators build is valid against the ``ocpp`` package's JSON schemas.

Charger-to-gateway payloads are taken off the wire (``FakeCsms`` records each
CALL); gateway-to-charger answers come from the default handlers. Schemas are
checked with the draft they declare (draft-04 for most of 1.6, draft-06 for
2.0.1 and the 1.6 security extension), plus the ``Z`` timestamp form.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from functools import cache
from importlib.resources import files
from typing import Any

import pytest
from jsonschema import Draft4Validator, Draft6Validator, FormatChecker
from jsonschema.validators import validator_for

from simulators import ChargePoint16, ChargePoint201
from simulators.testing import CsmsConnection, FakeCsms

Payload = dict[str, Any]
_Z_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
_TIMESTAMP_KEYS = {"timestamp", "generatedAt"}


@cache
def _schema(version: str, name: str) -> Any:
    folder = files("ocpp") / ("v16" if version == "1.6" else "v201") / "schemas"
    return json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))


def assert_valid(version: str, name: str, payload: Payload) -> None:
    schema = _schema(version, name)
    default = Draft4Validator if version == "1.6" else Draft6Validator
    validator = validator_for(schema, default=default)(schema, format_checker=FormatChecker())
    errors = [error.message for error in validator.iter_errors(payload)]
    assert errors == [], f"{name}: {errors}"
    _assert_z_timestamps(payload)


def _assert_z_timestamps(value: Any) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if key in _TIMESTAMP_KEYS:
                assert _Z_TIMESTAMP.fullmatch(item), f"{key}={item!r}"
            _assert_z_timestamps(item)
    elif isinstance(value, list):
        for item in value:
            _assert_z_timestamps(item)


@pytest.fixture
async def csms() -> AsyncIterator[FakeCsms]:
    async with FakeCsms(auto_reply=lambda action, payload: {}) as server:
        yield server


async def _sent(csms: FakeCsms, cp: ChargePoint16 | ChargePoint201, step: Any) -> list[Any]:
    async with cp:
        conn = await csms.accept()
        await step(cp)
    return conn.calls


# OCPP 1.6: charge point to central system

AT = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
SAMPLE = [{"timestamp": "2024-05-01T12:00:00.000Z", "sampledValue": [{"value": "10"}]}]
STEPS_16: dict[str, Callable[[ChargePoint16], Awaitable[Payload]]] = {
    "boot": lambda cp: cp.boot(),
    "boot with optional fields": lambda cp: cp.boot(
        "V", "M", firmwareVersion="1.2", chargePointSerialNumber="SN-1", iccid="89"
    ),
    "heartbeat": lambda cp: cp.heartbeat(),
    "authorize": lambda cp: cp.authorize("BADGE-1"),
    "start_transaction": lambda cp: cp.start_transaction(1, "BADGE-1", 1000),
    "start_transaction reserved": lambda cp: cp.start_transaction(
        2, "BADGE-1", 0, timestamp=AT, reservation_id=3
    ),
    "stop_transaction": lambda cp: cp.stop_transaction(42, 1500),
    "stop_transaction full": lambda cp: cp.stop_transaction(
        42, 1500, timestamp=AT, id_tag="BADGE-1", reason="Local", transaction_data=SAMPLE
    ),
    "meter_values energy": lambda cp: cp.meter_values(1, transaction_id=42, energy_wh=1234.5),
    "meter_values raw": lambda cp: cp.meter_values(1, meter_value=SAMPLE, timestamp=AT),
    "status_notification": lambda cp: cp.status_notification(1),
    "status_notification faulted": lambda cp: cp.status_notification(0, "Faulted", "GroundFailure"),
    "data_transfer": lambda cp: cp.data_transfer("com.example"),
    "data_transfer full": lambda cp: cp.data_transfer("com.example", "msg", '{"a":1}'),
    "diagnostics_status_notification": lambda cp: cp.diagnostics_status_notification("Uploaded"),
    "firmware_status_notification": lambda cp: cp.firmware_status_notification("Installed"),
    "security_event_notification": lambda cp: cp.security_event_notification(
        "FirmwareUpdated", tech_info="v1.2"
    ),
}


@pytest.mark.parametrize("step", STEPS_16.values(), ids=STEPS_16.keys())
async def test_v16_helper_payloads_match_the_schema(
    csms: FakeCsms, step: Callable[[ChargePoint16], Awaitable[Payload]]
) -> None:
    calls = await _sent(csms, ChargePoint16("CP-1", url=csms.url), step)
    assert len(calls) == 1
    action, payload = calls[0]
    assert_valid("1.6", action, payload)


async def test_v16_energy_is_one_register_sample_in_wh(csms: FakeCsms) -> None:
    calls = await _sent(
        csms,
        ChargePoint16("CP-1", url=csms.url),
        lambda cp: cp.meter_values(2, transaction_id=7, energy_wh=1500, timestamp=AT),
    )
    assert calls == [
        (
            "MeterValues",
            {
                "connectorId": 2,
                "transactionId": 7,
                "meterValue": [
                    {
                        "timestamp": "2024-05-01T12:00:00.000Z",
                        "sampledValue": [
                            {
                                "value": "1500",
                                "context": "Sample.Periodic",
                                "measurand": "Energy.Active.Import.Register",
                                "unit": "Wh",
                            }
                        ],
                    }
                ],
            },
        )
    ]


async def test_v16_meter_values_needs_a_value() -> None:
    cp = ChargePoint16("CP-1", url="ws://127.0.0.1:1")
    with pytest.raises(ValueError, match="energy_wh or meter_value"):
        await cp.meter_values(1)


# OCPP 2.0.1: charging station to CSMS

REPORT = [
    {
        "component": {"name": "OCPPCommCtrlr"},
        "variable": {"name": "HeartbeatInterval"},
        "variableAttribute": [{"type": "Actual", "value": "60"}],
    }
]
STEPS_201: dict[str, Callable[[ChargePoint201], Awaitable[Any]]] = {
    "boot": lambda cp: cp.boot(),
    "boot with station fields": lambda cp: cp.boot(
        "RemoteReset", "M", "V", serialNumber="SN-1", firmwareVersion="1.2"
    ),
    "heartbeat": lambda cp: cp.heartbeat(),
    "authorize": lambda cp: cp.authorize("BADGE-1"),
    "authorize emaid": lambda cp: cp.authorize("FR-ABC-C12345678-9", "eMAID"),
    "transaction_event minimal": lambda cp: cp.transaction_event(
        "Updated", "tx-1", 3, "Trigger", evse_id=None
    ),
    "transaction_event full": lambda cp: cp.transaction_event(
        "Ended",
        "tx-1",
        4,
        "StopAuthorized",
        id_token="BADGE-1",
        token_type="Central",
        evse_id=2,
        connector_id=1,
        meter_wh=1234.5,
        offline=True,
        timestamp=AT,
        charging_state="EVConnected",
        stopped_reason="Local",
        remote_start_id=9,
    ),
    "start_transaction": lambda cp: cp.start_transaction("BADGE-1"),
    "start_transaction offline": lambda cp: cp.start_transaction(
        "BADGE-1", transaction_id="tx-9", evse_id=2, meter_wh=10, offline=True
    ),
    "update_transaction": lambda cp: cp.update_transaction("tx-1", 2000),
    "end_transaction": lambda cp: cp.end_transaction("tx-1", 3000),
    "update_transaction offline": lambda cp: cp.update_transaction(
        "tx-1", 2000, trigger_reason="MeterValueClock", offline=True, timestamp=AT
    ),
    "end_transaction full": lambda cp: cp.end_transaction(
        "tx-1",
        3000,
        stopped_reason="DeAuthorized",
        trigger_reason="Deauthorized",
        id_token="BADGE-1",
        offline=True,
        timestamp=AT,
    ),
    "status_notification": lambda cp: cp.status_notification(1, 1, "Occupied"),
    "meter_values": lambda cp: cp.meter_values(1, 1234),
    "notify_report": lambda cp: cp.notify_report(1, 0),
    "notify_report with data": lambda cp: cp.notify_report(1, 1, REPORT, tbc=True),
    "notify_event": lambda cp: cp.notify_event(),
    "security_event_notification": lambda cp: cp.security_event_notification(
        "StartupOfTheDevice", "boot"
    ),
    "firmware_status_notification": lambda cp: cp.firmware_status_notification("Installed"),
    "log_status_notification": lambda cp: cp.log_status_notification("Uploaded"),
}


@pytest.mark.parametrize("step", STEPS_201.values(), ids=STEPS_201.keys())
async def test_v201_helper_payloads_match_the_schema(
    csms: FakeCsms, step: Callable[[ChargePoint201], Awaitable[Any]]
) -> None:
    calls = await _sent(csms, ChargePoint201("CP-1", url=csms.url), step)
    assert len(calls) == 1
    action, payload = calls[0]
    assert_valid("2.0.1", f"{action}Request", payload)


async def test_v201_transactions_number_their_events_from_zero(csms: FakeCsms) -> None:
    async def session(cp: ChargePoint201) -> None:
        first, _ = await cp.start_transaction("A", evse_id=2, meter_wh=100)
        second, _ = await cp.start_transaction("B", transaction_id="tx-b")
        await cp.update_transaction(first, 200)
        await cp.update_transaction(first, 300, trigger_reason="MeterValueClock")
        await cp.end_transaction(second, 50)
        await cp.end_transaction(first, 400, stopped_reason="EVDisconnected")

    calls = await _sent(csms, ChargePoint201("CP-1", url=csms.url), session)
    events = [payload for action, payload in calls if action == "TransactionEvent"]
    summary = [
        (
            e["transactionInfo"]["transactionId"],
            e["seqNo"],
            e["eventType"],
            e["triggerReason"],
            e["evse"]["id"],
            e["meterValue"][0]["sampledValue"][0]["value"],
        )
        for e in events
    ]
    first = summary[0][0]
    assert len(first) == 36
    assert summary == [
        (first, 0, "Started", "Authorized", 2, 100),
        ("tx-b", 0, "Started", "Authorized", 1, 0),
        (first, 1, "Updated", "MeterValuePeriodic", 2, 200),
        (first, 2, "Updated", "MeterValueClock", 2, 300),
        ("tx-b", 1, "Ended", "StopAuthorized", 1, 50),
        (first, 3, "Ended", "StopAuthorized", 2, 400),
    ]
    assert events[0]["idToken"] == {"idToken": "A", "type": "ISO14443"}
    assert events[-1]["transactionInfo"]["stoppedReason"] == "EVDisconnected"
    contexts = [e["meterValue"][0]["sampledValue"][0]["context"] for e in events]
    assert contexts[0] == "Transaction.Begin" and contexts[-1] == "Transaction.End"
    assert contexts[2] == "Sample.Periodic"


async def test_v201_offline_events_carry_the_flag_and_their_own_time(csms: FakeCsms) -> None:
    async def session(cp: ChargePoint201) -> None:
        await cp.start_transaction("A", transaction_id="tx", offline=True, timestamp=AT)
        await cp.end_transaction("tx", 10, offline=True, timestamp="2024-05-01T13:00:00.000Z")

    calls = await _sent(csms, ChargePoint201("CP-1", url=csms.url), session)
    assert [(p["offline"], p["timestamp"], p["seqNo"]) for _, p in calls] == [
        (True, "2024-05-01T12:00:00.000Z", 0),
        (True, "2024-05-01T13:00:00.000Z", 1),
    ]


async def test_v201_raw_events_move_the_automatic_seq_no_past_them(csms: FakeCsms) -> None:
    async def session(cp: ChargePoint201) -> None:
        await cp.transaction_event("Started", "tx-1", 0, "CablePluggedIn")
        await cp.transaction_event("Updated", "tx-1", 5, "Authorized", id_token="A")
        await cp.update_transaction("tx-1", 10)

    calls = await _sent(csms, ChargePoint201("CP-1", url=csms.url), session)
    assert [payload["seqNo"] for _, payload in calls] == [0, 5, 6]


# Gateway to charger: the default handlers' answers

REQUESTS_16: dict[str, Payload] = {
    "RemoteStopTransaction": {"transactionId": 1},
    "RemoteStartTransaction": {"idTag": "BADGE-1", "connectorId": 1},
    "ClearCache": {},
    "SendLocalList": {"listVersion": 2, "updateType": "Full"},
    "GetLocalListVersion": {},
    "Reset": {"type": "Soft"},
    "TriggerMessage": {"requestedMessage": "StatusNotification", "connectorId": 1},
    "ChangeAvailability": {"connectorId": 0, "type": "Inoperative"},
    "UnlockConnector": {"connectorId": 1},
    "ChangeConfiguration": {"key": "HeartbeatInterval", "value": "60"},
    "GetConfiguration": {},
}
VARIABLE = {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}
REQUESTS_201: dict[str, Payload] = {
    "RequestStopTransaction": {"transactionId": "tx-1"},
    "RequestStartTransaction": {
        "idToken": {"idToken": "BADGE-1", "type": "ISO14443"},
        "remoteStartId": 1,
    },
    "ClearCache": {},
    "SendLocalList": {"versionNumber": 2, "updateType": "Full"},
    "GetLocalListVersion": {},
    "Reset": {"type": "Immediate"},
    "TriggerMessage": {"requestedMessage": "Heartbeat"},
    "ChangeAvailability": {"operationalStatus": "Inoperative"},
    "UnlockConnector": {"evseId": 1, "connectorId": 1},
    "SetVariables": {"setVariableData": [{**VARIABLE, "attributeValue": "60"}]},
    "GetVariables": {"getVariableData": [{**VARIABLE, "attributeType": "Actual"}]},
}


async def _answers(
    simulator: type[ChargePoint16 | ChargePoint201], requests: dict[str, Payload]
) -> dict[str, list[Any]]:
    async with FakeCsms() as csms, simulator("CP-1", url=csms.url):
        conn: CsmsConnection = await csms.accept()
        return {action: await conn.call(action, payload) for action, payload in requests.items()}


async def test_v16_default_answers_match_the_schema() -> None:
    answers = await _answers(ChargePoint16, REQUESTS_16)
    assert answers.keys() == ChargePoint16.default_handlers.keys()
    for action, reply in answers.items():
        assert_valid("1.6", action, REQUESTS_16[action])
        assert reply[0] == 3, reply
        assert_valid("1.6", f"{action}Response", reply[2])
    assert answers["GetLocalListVersion"][2] == {"listVersion": 0}
    assert answers["UnlockConnector"][2] == {"status": "Unlocked"}
    assert answers["GetConfiguration"][2] == {"configurationKey": [], "unknownKey": []}


async def test_v201_default_answers_match_the_schema() -> None:
    answers = await _answers(ChargePoint201, REQUESTS_201)
    assert answers.keys() == ChargePoint201.default_handlers.keys()
    for action, reply in answers.items():
        assert_valid("2.0.1", f"{action}Request", REQUESTS_201[action])
        assert reply[0] == 3, reply
        assert_valid("2.0.1", f"{action}Response", reply[2])
    assert answers["GetLocalListVersion"][2] == {"versionNumber": 0}
    assert answers["SetVariables"][2] == {
        "setVariableResult": [{**VARIABLE, "attributeStatus": "Accepted"}]
    }
    assert answers["GetVariables"][2] == {
        "getVariableResult": [
            {**VARIABLE, "attributeStatus": "UnknownVariable", "attributeType": "Actual"}
        ]
    }
