"""Hostile or broken frames: the right CALLERROR, and the connection and process live on."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import PASSWORDS, Harness, StartGateway

IDENTITY = {"1.6": "CP16", "2.0.1": "CP201"}
BOOT = {
    "1.6": {"chargePointVendor": "V", "chargePointModel": "M"},
    "2.0.1": {"reason": "PowerUp", "chargingStation": {"model": "M", "vendorName": "V"}},
}


@asynccontextmanager
async def raw_charger(gw: Harness, version: str) -> AsyncIterator[ClientConnection]:
    cpid = IDENTITY[version]
    auth = base64.b64encode(f"{cpid}:{PASSWORDS[cpid]}".encode()).decode()
    async with connect(
        f"{gw.url}/{cpid}",
        subprotocols=[f"ocpp{version}"],  # type: ignore[list-item]
        additional_headers={"Authorization": "Basic " + auth},
        max_size=None,
    ) as ws:
        await ws.send(json.dumps([2, "boot", "BootNotification", BOOT[version]]))
        assert json.loads(await ws.recv())[0] == 3
        yield ws


async def still_alive(ws: ClientConnection) -> None:
    await ws.send('[2,"alive","Heartbeat",{}]')
    answer = json.loads(await ws.recv())
    assert answer[:2] == [3, "alive"]


async def answer_to(ws: ClientConnection, data: str | bytes, *, text: bool = True) -> list[Any]:
    await ws.send(data, text=text)
    answer = json.loads(await ws.recv())
    assert answer[0] == 4, answer
    assert len(answer[3]) <= 255
    return answer


# (frame, 1.6 code, 2.0.1 code, message id in the answer)
CASES = [
    ("not json at all", "FormationViolation", "RpcFrameworkError", "-1"),
    ('{"object": "instead of an array"}', "FormationViolation", "RpcFrameworkError", "-1"),
    ("[]", "FormationViolation", "RpcFrameworkError", "-1"),
    ('[5,"m1","Heartbeat",{}]', "FormationViolation", "MessageTypeNotSupported", "m1"),
    ('["2","m1","Heartbeat",{}]', "FormationViolation", "MessageTypeNotSupported", "m1"),
    ('[2,42,"Heartbeat",{}]', "FormationViolation", "RpcFrameworkError", "-1"),
    ('[2,"' + "x" * 37 + '","Heartbeat",{}]', "FormationViolation", "RpcFrameworkError", "-1"),
    ('[2,"m1","Heartbeat",{}, "extra"]', "FormationViolation", "RpcFrameworkError", "m1"),
    ('[2,"m1","Heartbeat","payload"]', "FormationViolation", "FormatViolation", "m1"),
    (
        '[2,"m1","Heartbeat",{"x":' + "7" * 5000 + "}]",
        "FormationViolation",
        "RpcFrameworkError",
        "-1",
    ),
    ('[2,"m1","NoSuchAction",{}]', "NotImplemented", "NotImplemented", "m1"),
    ('[2,"m1","Heartbeat",{"unexpected":1}]', "FormationViolation", "FormatViolation", "m1"),
    # A lone surrogate escape: JSON syntax, but no Unicode text; in a key or in a value.
    ('[2,"m1","Authorize",{"idTag":"A\\ud800"}]', "FormationViolation", "FormatViolation", "m1"),
    (
        '[2,"m1","DataTransfer",{"vendorId":"v","\\udfff":1}]',
        "FormationViolation",
        "FormatViolation",
        "m1",
    ),
    ('[2,"\\ud800","Heartbeat",{}]', "FormationViolation", "RpcFrameworkError", "-1"),
]


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
@pytest.mark.parametrize(("frame", "code16", "code201", "message_id"), CASES)
async def test_bad_frames_get_the_versions_callerror(
    gw: Harness, version: str, frame: str, code16: str, code201: str, message_id: str
) -> None:
    async with raw_charger(gw, version) as ws:
        answer = await answer_to(ws, frame)
        assert answer[1] == message_id
        assert answer[2] == (code16 if version == "1.6" else code201)
        await still_alive(ws)


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_invalid_utf8_and_binary_frames(gw: Harness, version: str) -> None:
    async with raw_charger(gw, version) as ws:
        invalid = await answer_to(ws, b'[2,"m1","Heartbeat",{"x":"\xc3\x28"}]', text=True)
        binary = await answer_to(ws, b'[2,"m2","Heartbeat",{}]', text=False)
        assert invalid[1] == binary[1] == "-1"
        await still_alive(ws)


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_deeply_nested_json_does_not_kill_anything(
    start_gateway: StartGateway, version: str
) -> None:
    gw = await start_gateway(max_frame_bytes=1024 * 1024)
    async with raw_charger(gw, version) as ws:
        deep = "[" * 100_000 + "]" * 100_000
        answer = await answer_to(ws, deep)
        assert answer[1] == "-1"
        await still_alive(ws)


async def test_a_frame_over_the_size_limit_closes_with_1009(start_gateway: StartGateway) -> None:
    gw = await start_gateway(max_frame_bytes=4096)
    async with raw_charger(gw, "1.6") as ws:
        await ws.send('[2,"big","DataTransfer",{"vendorId":"x","data":"' + "a" * 5000 + '"}]')
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    async with raw_charger(gw, "1.6") as ws:  # the process lives on
        await still_alive(ws)


async def test_property_and_type_violations(gw: Harness) -> None:
    async with raw_charger(gw, "1.6") as ws:
        too_long = await answer_to(ws, json.dumps([2, "a", "Authorize", {"idTag": "X" * 21}]))
        wrong_type = await answer_to(ws, json.dumps([2, "b", "Authorize", {"idTag": 5}]))
        missing = await answer_to(ws, json.dumps([2, "c", "Authorize", {}]))
    assert too_long[2] == "PropertyConstraintViolation"
    assert wrong_type[2] == "TypeConstraintViolation"
    assert missing[2] == "OccurenceConstraintViolation"


async def test_broken_replies_are_dropped_silently(gw: Harness) -> None:
    async with raw_charger(gw, "1.6") as ws:
        await ws.send('[3,"nobody-asked",{}]')
        await ws.send("[4]")
        await ws.send('[3,"x"]')
        await still_alive(ws)


async def test_a_storm_of_garbage_leaves_other_chargers_unaffected(gw: Harness) -> None:
    async with raw_charger(gw, "2.0.1") as healthy, raw_charger(gw, "1.6") as noisy:
        for n in range(200):
            await noisy.send(["{", "[2,", "[9]", '[2,"x"]', "\x00"][n % 5])
        for _ in range(200):
            assert json.loads(await noisy.recv())[0] == 4
        await still_alive(healthy)
        await still_alive(noisy)
