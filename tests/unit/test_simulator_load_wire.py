"""The load generator's WebSocket wire code (RFC 6455), checked against ``websockets`` itself."""

from __future__ import annotations

import base64

import pytest
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from simulators.load import wire


def _parse_client_frame(data: bytes) -> Frame:
    """Read ``data`` as a server would: with websockets' own parser, masked frames required."""
    reader = StreamReader()
    reader.feed_data(data)
    parser = Frame.parse(reader.read_exact, mask=True)
    try:
        next(parser)
    except StopIteration as done:
        frame: Frame = done.value
        return frame
    raise AssertionError("incomplete frame")


def _server_frame(opcode: Opcode, payload: bytes, fin: bool = True) -> bytes:
    return Frame(opcode, payload, fin=fin).serialize(mask=False)


@pytest.mark.parametrize("size", [0, 5, 125, 126, 65535, 65536, 200_000])
def test_client_frames_are_masked_and_websockets_reads_them(size: int) -> None:
    payload = bytes(i % 251 for i in range(size))
    data = wire.encode_frame(wire.OP_TEXT, payload)
    assert data[1] & 0x80, "client frames are masked (§5.3)"
    frame = _parse_client_frame(data)
    assert frame.opcode is Opcode.TEXT and frame.fin and frame.data == payload


def test_the_reader_reassembles_fragments_around_control_frames() -> None:
    data = (
        _server_frame(Opcode.TEXT, b'[3,"1",', fin=False)
        + _server_frame(Opcode.PING, b"hi")
        + _server_frame(Opcode.CONT, b'{"a":', fin=False)
        + _server_frame(Opcode.CONT, b"1}]")
        + _server_frame(Opcode.TEXT, b"[2]")
    )
    reader = wire.FrameReader()
    received = []
    for i in range(0, len(data), 3):  # byte-sized chunks, as TCP may deliver them
        received.extend(reader.feed(data[i : i + 3]))
    assert received == [
        (wire.OP_PING, b"hi"),
        (wire.OP_TEXT, b'[3,"1",{"a":1}]'),
        (wire.OP_TEXT, b"[2]"),
    ]


def test_the_reader_takes_several_frames_from_one_read_and_long_lengths() -> None:
    big = b"x" * 70_000
    data = _server_frame(Opcode.TEXT, b"a") + _server_frame(Opcode.BINARY, big)
    assert wire.FrameReader().feed(data) == [(wire.OP_TEXT, b"a"), (wire.OP_BINARY, big)]


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (bytes([0xC1, 0x00]), "reserved bits"),
        (bytes([0x80, 0x00]), "continuation frame without a message"),
        (bytes([0x09, 0x00]), "fragmented or oversized control frame"),
        (bytes([0x83, 0x00]), "unknown opcode"),
        (bytes([0x81, 0x7F]) + (2**40).to_bytes(8, "big"), "over the limit"),
    ],
)
def test_the_reader_refuses_what_rfc_6455_forbids(data: bytes, problem: str) -> None:
    with pytest.raises(wire.WireError, match=problem):
        wire.FrameReader().feed(data)


def test_the_handshake_request_carries_credentials_and_subprotocols() -> None:
    request = wire.handshake_request(
        "127.0.0.1:9000", "/ocpp/CP%201", "a2V5", ["ocpp2.0.1", "ocpp1.6"], "Basic Q1A6cHc="
    )
    head, _, rest = request.partition(b"\r\n\r\n")
    assert rest == b""
    lines = head.decode().split("\r\n")
    assert lines[0] == "GET /ocpp/CP%201 HTTP/1.1"
    assert "Sec-WebSocket-Protocol: ocpp2.0.1, ocpp1.6" in lines
    assert "Authorization: Basic Q1A6cHc=" in lines
    assert "Sec-WebSocket-Version: 13" in lines


def test_the_accept_value_is_rfc_6455s_example() -> None:
    assert wire.accept_value("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    assert len(base64.b64decode(wire.new_key())) == 16


def _response(status: str, *headers: str) -> bytes:
    return ("\r\n".join([f"HTTP/1.1 {status}", *headers]) + "\r\n\r\n").encode()


def test_the_response_head_is_read_once_complete() -> None:
    key = wire.new_key()
    data = _response(
        "101 Switching Protocols",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Accept: {wire.accept_value(key)}",
        "Sec-WebSocket-Protocol: ocpp1.6",
    )
    assert wire.split_response(data[:-1]) is None
    status, reason, headers, used = wire.split_response(data + b"\x81\x00") or (0, "", {}, 0)
    assert (status, reason, used) == (101, "Switching Protocols", len(data))
    assert wire.check_upgrade(status, reason, headers, key, ["ocpp1.6"]) == "ocpp1.6"


def test_a_refusal_and_a_bad_upgrade_are_errors() -> None:
    key = wire.new_key()
    status, reason, headers, _ = wire.split_response(_response("401 Unauthorized")) or (
        0,
        "",
        {},
        0,
    )
    with pytest.raises(wire.HandshakeRefused) as refused:
        wire.check_upgrade(status, reason, headers, key, ["ocpp1.6"])
    assert refused.value.status == 401
    good = {"upgrade": "websocket", "connection": "Upgrade"}
    with pytest.raises(wire.WireError, match="Accept"):
        wire.check_upgrade(101, "", {**good, "sec-websocket-accept": "nope"}, key, ["ocpp1.6"])
    accepted = {**good, "sec-websocket-accept": wire.accept_value(key)}
    with pytest.raises(wire.WireError, match="did not offer"):
        wire.check_upgrade(101, "", {**accepted, "sec-websocket-protocol": "x"}, key, ["ocpp1.6"])
    assert wire.check_upgrade(101, "", accepted, key, ["ocpp1.6"]) is None
    with pytest.raises(wire.WireError, match="not an HTTP response"):
        wire.split_response(b"SSH-2.0\r\n\r\n")
