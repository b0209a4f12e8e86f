"""One load-test charger's WebSocket: an asyncio protocol around :mod:`simulators.load.wire`.

It behaves like the library's simulators on the wire (Basic credentials and
OCPP subprotocols in the upgrade, one CALL outstanding at a time, every CALL
from the gateway answered, pings answered with pongs, the closing handshake
echoed) at a fraction of their cost: no reader task, no queue, a few
attributes and one future per CALL, so that one process holds thousands.

The caller owns the timing: :meth:`LeanConnection.send_call` returns a future
that resolves to the reply frame (a list), to :data:`CLOSED`, or to
:data:`TIMEOUT` when the caller gives up on it with
:meth:`LeanConnection.expire`; then the next CALL may be sent (OCPP-J 1.6
§4.1.1). Late replies are counted, never mistaken for the next answer.
"""

from __future__ import annotations

import asyncio
import json
import ssl as ssl_module
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, Final
from urllib.parse import quote, urlsplit

from simulators.frames import Payload, call_error, call_result
from simulators.load import wire

CLOSED: Final = "closed"
"""What a pending CALL resolves to when the connection ends before the answer."""
TIMEOUT: Final = "timeout"
"""What a pending CALL resolves to when the caller gives up (:meth:`LeanConnection.expire`)."""

READ_BUFFER_BYTES = 65536
_decode = json.JSONDecoder().decode

Answer = Callable[[str, Payload], Payload | None]
"""(action, payload) of the gateway's CALL -> the CALLRESULT payload, or None (NotImplemented)."""


class WireCounters:
    """What the connections of one fleet saw besides answers, summed across reconnects."""

    __slots__ = ("late_replies", "server_calls", "unexpected_frames")

    def __init__(self) -> None:
        self.server_calls: Counter[str] = Counter()
        """The gateway's CALLs answered, by action."""
        self.late_replies = 0
        """Replies to a CALL given up on (timed out), or to no CALL of ours."""
        self.unexpected_frames = 0
        """Binary frames, invalid JSON, non-OCPP arrays, protocol faults."""


class Endpoint:
    """Where the chargers connect: ``ws[s]://host[:port][/path]``, one path segment per id."""

    __slots__ = ("base_path", "host", "host_header", "port", "ssl")

    def __init__(self, url: str, ssl: ssl_module.SSLContext | None = None) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("ws", "wss") or not parts.hostname:
            raise ValueError(f"expected a ws:// or wss:// URL, got {url!r}")
        secure = parts.scheme == "wss"
        self.host = parts.hostname
        self.port = parts.port or (443 if secure else 80)
        default = self.port == (443 if secure else 80)
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.host_header = host if default else f"{host}:{self.port}"
        self.base_path = parts.path.rstrip("/")
        self.ssl: ssl_module.SSLContext | None = None
        if secure:
            self.ssl = ssl if ssl is not None else ssl_module.create_default_context()

    def path(self, charge_point_id: str) -> str:
        return f"{self.base_path}/{quote(charge_point_id, safe='')}"


class LeanConnection(asyncio.BufferedProtocol):
    """Reads into a buffer shared by the connections of one event loop: asyncio's plain
    protocols receive into a fresh 256 KiB ``bytes`` per read, which costs more than
    the rest of a small message's handling."""

    __slots__ = (
        "_answer",
        "_buffer",
        "_closing",
        "_handshake",
        "_head",
        "_key",
        "_offered",
        "_pending",
        "_pending_id",
        "_reader",
        "_transport",
        "answered_ns",
        "closed",
        "counters",
        "subprotocol",
    )

    def __init__(
        self,
        key: str,
        offered: list[str],
        answer: Answer,
        counters: WireCounters,
        buffer: bytearray,
    ) -> None:
        loop = asyncio.get_running_loop()
        self._buffer = buffer
        self._key = key
        self._offered = offered
        self._answer = answer
        self._transport: asyncio.Transport | None = None
        self._head = b""
        self._handshake: asyncio.Future[None] | None = loop.create_future()
        self._reader = wire.FrameReader()
        self._pending: asyncio.Future[list[Any] | str] | None = None
        self._pending_id = ""
        self._closing = False
        self.answered_ns = 0
        """When the answer to the last CALL was read off the socket (``perf_counter_ns``)."""
        self.closed: asyncio.Future[None] = loop.create_future()
        self.subprotocol: str | None = None
        self.counters = counters

    # Driving

    @property
    def is_open(self) -> bool:
        return self._handshake is None and not self.closed.done() and not self._closing

    @property
    def busy(self) -> bool:
        return self._pending is not None

    def send_call(self, message_id: str, action: str, payload_json: str) -> asyncio.Future[Any]:
        """Send ``[2, id, action, payload]``; the future gets the reply frame or :data:`CLOSED`."""
        if self._pending is not None:
            raise RuntimeError("a CALL is already outstanding (OCPP-J: one at a time)")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if not self.is_open:
            future.set_result(CLOSED)
            return future
        self._pending, self._pending_id = future, message_id
        text = f'[2,"{message_id}","{action}",{payload_json}]'
        self._write(wire.OP_TEXT, text.encode("utf-8"))
        return future

    def expire(self) -> None:
        """Give up on the outstanding CALL (resolved to :data:`TIMEOUT`); a later answer
        counts as late."""
        pending, self._pending = self._pending, None
        if pending is not None and not pending.done():
            pending.set_result(TIMEOUT)

    def done(self) -> None:
        """The answer to the outstanding CALL has been taken."""
        self._pending = None

    def close(self, code: int = 1000) -> None:
        """Start the closing handshake (§7.1.2); the server's Close ends the connection."""
        if self.is_open and self._transport is not None:
            self._write(wire.OP_CLOSE, wire.close_payload(code))
            self._closing = True
            loop = asyncio.get_running_loop()
            loop.call_later(2.0, self._transport.abort)
        elif self._transport is not None and not self.closed.done():
            self._transport.abort()

    def abort(self) -> None:
        """Drop the TCP connection at once, as on a power or network loss."""
        if self._transport is not None:
            self._transport.abort()

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def get_buffer(self, sizehint: int) -> bytearray:
        return self._buffer

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(bytes(memoryview(self._buffer)[:nbytes]))

    def data_received(self, data: bytes) -> None:
        if self._handshake is not None:
            data = self._handshake_data(data)
            if not data:
                return
        try:
            messages = self._reader.feed(data)
        except wire.WireError:
            self.counters.unexpected_frames += 1
            self._write(wire.OP_CLOSE, wire.close_payload(1002))
            self.abort()
            return
        for opcode, payload in messages:
            if opcode == wire.OP_TEXT:
                self._on_text(payload)
            elif opcode == wire.OP_PING:
                self._write(wire.OP_PONG, payload)
            elif opcode == wire.OP_CLOSE:
                if not self._closing:
                    self._write(wire.OP_CLOSE, payload[:2])
                    self._closing = True
                if self._transport is not None:
                    self._transport.close()
            elif opcode != wire.OP_PONG:
                self.counters.unexpected_frames += 1

    def connection_lost(self, exc: Exception | None) -> None:
        if self._handshake is not None and not self._handshake.done():
            self._handshake.set_exception(ConnectionError("connection lost during the handshake"))
        if self._pending is not None and not self._pending.done():
            self._pending.set_result(CLOSED)
        if not self.closed.done():
            self.closed.set_result(None)

    # Internals

    def _write(self, opcode: int, payload: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(wire.encode_frame(opcode, payload))

    def _handshake_data(self, data: bytes) -> bytes:
        """Consume the upgrade response; returns the bytes that follow it."""
        handshake = self._handshake
        assert handshake is not None
        self._head += data
        try:
            parsed = wire.split_response(self._head)
            if parsed is None:
                return b""
            status, reason, headers, used = parsed
            self.subprotocol = wire.check_upgrade(status, reason, headers, self._key, self._offered)
        except Exception as exc:
            if not handshake.done():
                handshake.set_exception(exc)
            self.abort()
            return b""
        rest, self._head, self._handshake = self._head[used:], b"", None
        if not handshake.done():
            handshake.set_result(None)
        return rest

    def _on_text(self, data: bytes) -> None:
        try:
            frame = _decode(data.decode("utf-8"))
        except ValueError:
            self.counters.unexpected_frames += 1
            return
        if type(frame) is list and len(frame) >= 3 and type(frame[0]) is int:
            kind = frame[0]
            if kind == 3 or kind == 4:
                pending = self._pending
                if pending is not None and frame[1] == self._pending_id and not pending.done():
                    # The answer's arrival, before the waiting coroutine gets its turn on
                    # the generator's loop (that wait is the generator's, not the server's).
                    self.answered_ns = time.perf_counter_ns()
                    pending.set_result(frame)
                else:
                    self.counters.late_replies += 1
                return
            if (
                kind == 2
                and len(frame) == 4
                and isinstance(frame[1], str)
                and isinstance(frame[2], str)
                and isinstance(frame[3], dict)
            ):
                self._on_call(frame[1], frame[2], frame[3])
                return
        self.counters.unexpected_frames += 1

    def _on_call(self, message_id: str, action: str, payload: Payload) -> None:
        """Answer the gateway's CALL as the default firmware would (OCPP-J 1.6 §4.2)."""
        self.counters.server_calls[action] += 1
        try:
            response = self._answer(action, payload)
        except Exception as exc:
            text = call_error(message_id, "InternalError", f"{type(exc).__name__}: {exc}", {})
        else:
            if response is None:
                description = f"{action} is not supported by this simulator"
                text = call_error(message_id, "NotImplemented", description, {})
            else:
                text = call_result(message_id, response)
        self._write(wire.OP_TEXT, text.encode("utf-8"))


async def open_connection(
    endpoint: Endpoint,
    charge_point_id: str,
    *,
    authorization: str | None,
    subprotocols: list[str],
    answer: Answer,
    counters: WireCounters,
    timeout: float,
    buffer: bytearray | None = None,
) -> LeanConnection:
    """Connect and upgrade (OCPP-J 1.6 §3.1); raises :class:`wire.HandshakeRefused`,
    ``TimeoutError``, ``OSError`` or :class:`wire.WireError`."""
    loop = asyncio.get_running_loop()
    key = wire.new_key()
    shared = bytearray(READ_BUFFER_BYTES) if buffer is None else buffer

    def factory() -> LeanConnection:
        return LeanConnection(key, subprotocols, answer, counters, shared)

    async with asyncio.timeout(timeout):
        _, conn = await loop.create_connection(
            factory,
            endpoint.host,
            endpoint.port,
            ssl=endpoint.ssl,
            server_hostname=endpoint.host if endpoint.ssl is not None else None,
        )
        try:
            assert conn._transport is not None and conn._handshake is not None
            conn._transport.write(
                wire.handshake_request(
                    endpoint.host_header,
                    endpoint.path(charge_point_id),
                    key,
                    subprotocols,
                    authorization,
                )
            )
            await conn._handshake
        except BaseException:
            conn.abort()
            raise
    return conn
