"""The simulator over a real WebSocket: handshake, our CALLs, raw frames, closing.

The other end is ``simulators.testing.FakeCsms``, scripted frame by frame.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator
from http import HTTPStatus

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from simulators import CallError, ChargePoint16, ChargePoint201, ChargePointSimulator
from simulators.errors import ProtocolError
from simulators.testing import FakeCsms


@pytest.fixture
async def csms() -> AsyncIterator[FakeCsms]:
    async with FakeCsms() as server:
        yield server


def _credentials(csms: FakeCsms) -> bytes | None:
    header = csms.requests[-1].headers.get("Authorization")
    if header is None:
        return None
    assert header.startswith("Basic ")
    return base64.b64decode(header.removeprefix("Basic "), validate=True)


def _simulator_tasks() -> list[asyncio.Task[object]]:
    return [task for task in asyncio.all_tasks() if task.get_name().startswith("ocpp-sim:")]


# Handshake


async def test_connects_to_the_identity_path_with_basic_credentials(csms: FakeCsms) -> None:
    async with ChargePoint16("CP 1", url=csms.url + "/ocpp/", password="secret") as cp:
        await csms.accept()
        assert csms.requests[-1].path == "/ocpp/CP%201"
        assert _credentials(csms) == b"CP 1:secret"
        assert cp.subprotocol == "ocpp1.6"


async def test_raw_byte_password_is_sent_byte_for_byte(csms: FakeCsms) -> None:
    key = b"\x00\xff:\x80AuthorizationKey"
    async with ChargePoint16("CP-1", url=csms.url, password=key, username="other"):
        await csms.accept()
    assert _credentials(csms) == b"other:" + key


async def test_no_password_sends_no_authorization_header(csms: FakeCsms) -> None:
    async with ChargePoint201("CP-1", url=csms.url):
        await csms.accept()
    assert _credentials(csms) is None


async def test_each_version_offers_its_own_subprotocol_unless_told(csms: FakeCsms) -> None:
    async with ChargePoint201("CP-1", url=csms.url) as cp:
        await csms.accept()
        assert csms.requests[-1].headers["Sec-WebSocket-Protocol"] == "ocpp2.0.1"
        assert cp.subprotocol == "ocpp2.0.1"
    async with ChargePoint16("CP-1", url=csms.url, subprotocols=["ocpp2.0.1", "ocpp1.6"]) as cp:
        await csms.accept()
        assert csms.requests[-1].headers["Sec-WebSocket-Protocol"] == "ocpp2.0.1, ocpp1.6"
        assert cp.subprotocol == "ocpp2.0.1"


async def test_subprotocol_is_none_when_the_server_selects_none() -> None:
    async with FakeCsms(subprotocols=[]) as csms, ChargePoint16("CP-1", url=csms.url) as cp:
        await csms.accept()
        assert cp.subprotocol is None


async def test_a_refused_upgrade_raises_invalid_status_with_the_http_status() -> None:
    async with FakeCsms(refuse=HTTPStatus.UNAUTHORIZED) as csms:
        cp = ChargePoint16("CP-1", url=csms.url, password="wrong")
        with pytest.raises(InvalidStatus) as caught:
            await cp.connect()
        assert caught.value.response.status_code == 401
    assert _simulator_tasks() == []


# Our CALLs


async def test_call_sends_a_uuid_message_id_and_returns_the_callresult(csms: FakeCsms) -> None:
    async with ChargePoint16("CP-1", url=csms.url) as cp:
        conn = await csms.accept()
        pending = asyncio.create_task(cp.call("Heartbeat", {}))
        message_id, payload = await conn.expect_call("Heartbeat")
        assert payload == {}
        assert uuid.UUID(message_id).version == 4
        await conn.reply(message_id, {"currentTime": "2024-05-01T12:00:00Z"})
        assert await pending == {"currentTime": "2024-05-01T12:00:00Z"}


async def test_call_uses_the_given_message_id(csms: FakeCsms) -> None:
    async with ChargePoint16("CP-1", url=csms.url) as cp:
        conn = await csms.accept()
        pending = asyncio.create_task(cp.call("Authorize", {"idTag": "T"}, message_id="id-1"))
        assert await conn.recv() == [2, "id-1", "Authorize", {"idTag": "T"}]
        await conn.reply("id-1", {"idTagInfo": {"status": "Accepted"}})
        assert await pending == {"idTagInfo": {"status": "Accepted"}}


async def test_a_callerror_raises_call_error_with_its_fields(csms: FakeCsms) -> None:
    async with ChargePoint16("CP-1", url=csms.url) as cp:
        conn = await csms.accept()
        pending = asyncio.create_task(cp.call("Authorize", {}, message_id="m1"))
        await conn.expect_call("Authorize")
        await conn.reply_error("m1", "FormationViolation", "idTag missing", {"field": "idTag"})
        with pytest.raises(CallError) as caught:
            await pending
        error = caught.value
        assert (error.message_id, error.code) == ("m1", "FormationViolation")
        assert (error.description, error.details) == ("idTag missing", {"field": "idTag"})


async def test_a_malformed_reply_raises_protocol_error(csms: FakeCsms) -> None:
    async with ChargePoint16("CP-1", url=csms.url) as cp:
        conn = await csms.accept()
        pending = asyncio.create_task(cp.call("Heartbeat", {}, message_id="m1"))
        await conn.expect_call("Heartbeat")
        await conn.send([3, "m1", "not an object"])
        with pytest.raises(ProtocolError) as caught:
            await pending
        assert caught.value.frame == [3, "m1", "not an object"]


async def test_no_answer_times_out_and_the_late_answer_is_unmatched(csms: FakeCsms) -> None:
    async with ChargePoint16("CP-1", url=csms.url, call_timeout=0.05) as cp:
        conn = await csms.accept()
        with pytest.raises(TimeoutError):
            await cp.call("Heartbeat", {}, message_id="late")
        await conn.expect_call("Heartbeat")
        await conn.reply("late", {"currentTime": "2024-05-01T12:00:00Z"})
        assert await cp.next_frame() == [3, "late", {"currentTime": "2024-05-01T12:00:00Z"}]
        with pytest.raises(TimeoutError):
            await cp.call("Heartbeat", {}, timeout=0.01)


async def test_only_one_call_is_outstanding_at_a_time(csms: FakeCsms) -> None:
    async with ChargePoint16("CP-1", url=csms.url) as cp:
        conn = await csms.accept()
        first = asyncio.create_task(cp.call("Heartbeat", {}, message_id="a"))
        second = asyncio.create_task(cp.call("Authorize", {"idTag": "T"}, message_id="b"))
        await conn.expect_call("Heartbeat")
        with pytest.raises(TimeoutError):
            await conn.recv(timeout=0.2)  # Authorize waits for Heartbeat's answer
        await conn.reply("a", {"currentTime": "t"})
        assert await first == {"currentTime": "t"}
        assert await conn.expect_call("Authorize") == ("b", {"idTag": "T"})
        await conn.reply("b", {"idTagInfo": {"status": "Blocked"}})
        assert await second == {"idTagInfo": {"status": "Blocked"}}


async def test_a_reply_with_another_id_does_not_answer_the_call(csms: FakeCsms) -> None:
    async with ChargePoint16("CP-1", url=csms.url) as cp:
        conn = await csms.accept()
        pending = asyncio.create_task(cp.call("Heartbeat", {}, message_id="mine"))
        await conn.expect_call("Heartbeat")
        await conn.reply("other", {"x": 1})
        assert await cp.next_frame() == [3, "other", {"x": 1}]
        assert not pending.done()
        await conn.reply("mine", {"currentTime": "t"})
        assert await pending == {"currentTime": "t"}


# Raw frames


async def test_send_raw_sends_text_and_binary_frames_untouched(csms: FakeCsms) -> None:
    async with ChargePoint16("CP-1", url=csms.url) as cp:
        conn = await csms.accept()
        await cp.send_raw('[2,"x","Heartbeat",{}')
        assert await conn.recv() == '[2,"x","Heartbeat",{}'
        await cp.send_raw(b'[2,"x","Heartbeat",{}]')
        assert await conn.recv() == b'[2,"x","Heartbeat",{}]'


async def test_send_raw_text_bytes_go_in_a_text_frame_even_invalid_utf8(csms: FakeCsms) -> None:
    async with ChargePoint16("CP-1", url=csms.url) as cp:
        await csms.accept()
        await cp.send_raw(b"\xff\xfe", text=True)
        assert await cp.wait_closed() == 1007  # the server's websockets refuses the text


async def test_next_frame_decodes_arrays_and_keeps_anything_else_raw(csms: FakeCsms) -> None:
    async with ChargePoint16("CP-1", url=csms.url) as cp:
        conn = await csms.accept()
        for sent in ('[4,"-1","FormationViolation","bad",{}]', "oops", '{"a":1}', b"\x01"):
            await conn.send(sent)
        assert await cp.next_frame() == [4, "-1", "FormationViolation", "bad", {}]
        assert await cp.next_frame() == "oops"
        assert await cp.next_frame() == '{"a":1}'
        assert await cp.next_frame() == b"\x01"
        with pytest.raises(TimeoutError):
            await cp.next_frame(timeout=0.01)


# Closing


async def test_a_close_by_the_gateway_is_reported_with_code_and_reason(csms: FakeCsms) -> None:
    cp = ChargePoint16("CP-1", url=csms.url)
    assert cp.close_code is None
    async with cp:
        conn = await csms.accept()
        await conn.close(1002, "no subprotocol")
        assert await cp.wait_closed() == 1002
        assert cp.close_reason == "no subprotocol"
        for _ in range(2):
            with pytest.raises(ConnectionClosed):
                await cp.next_frame()
        with pytest.raises(ConnectionClosed):
            await cp.heartbeat()
        with pytest.raises(ConnectionClosed):
            await cp.wait_for_call("Reset")


async def test_a_connection_lost_during_a_call_ends_it_at_once(csms: FakeCsms) -> None:
    async with ChargePoint16("CP-1", url=csms.url, call_timeout=30) as cp:
        conn = await csms.accept()
        pending = asyncio.create_task(cp.heartbeat())
        await conn.expect_call("Heartbeat")
        await conn.close(1011, "crash")
        with pytest.raises(ConnectionClosed) as caught:
            await asyncio.wait_for(pending, 5)
        assert caught.value.rcvd is not None and caught.value.rcvd.code == 1011


async def test_close_sends_the_code_and_stops_the_reader(csms: FakeCsms) -> None:
    cp = ChargePoint201("CP-1", url=csms.url)
    await cp.connect()
    conn = await csms.accept()
    assert len(_simulator_tasks()) == 1
    await cp.close(4001, "bye")
    await conn.ws.wait_closed()
    assert (conn.ws.close_code, conn.ws.close_reason) == (4001, "bye")
    assert cp.close_code == 4001  # echoed by the server
    assert _simulator_tasks() == []


async def test_abort_drops_the_connection_without_a_closing_handshake(csms: FakeCsms) -> None:
    cp = ChargePoint16("CP-1", url=csms.url)
    await cp.connect()
    conn = await csms.accept()
    await cp.abort()
    await conn.ws.wait_closed()
    assert conn.ws.close_code == 1006
    assert _simulator_tasks() == []


async def test_a_simulator_reconnects_after_a_close(csms: FakeCsms) -> None:
    cp: ChargePointSimulator = ChargePoint16("CP-1", url=csms.url)
    async with cp:
        await csms.accept()
    async with cp:
        conn = await csms.accept()
        await conn.send("hello again")
        assert await cp.next_frame() == "hello again"
        assert cp.close_code is None
    with pytest.raises(RuntimeError, match="already connected"):
        async with cp:
            await cp.connect()
