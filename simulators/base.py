"""One simulated charge point on one OCPP-J WebSocket (OCPP-J 1.6 §3-§4, 2.0.1 Part 4 §3-§4).

A test drives it step by step: ``await cp.call(...)`` sends a CALL and returns
the CALLRESULT payload (OCPP-J 1.6 §4.1.1: one CALL outstanding at a time),
``send_raw`` / ``next_frame`` bypass the RPC layer for adversity tests.

While connected, a reader task owned by the instance takes every message:

* a CALLRESULT or CALLERROR whose id is that of our outstanding CALL goes
  to :meth:`ChargePointSimulator.call`;
* a well-formed CALL from the gateway goes to the instance's
  :class:`~simulators.responder.Responder`, which records it in
  ``received_calls`` and answers it; :meth:`wait_for_call` returns it once
  answered;
* everything else (late replies, malformed or binary frames) is queued for
  :meth:`next_frame`.

:meth:`close` closes the WebSocket, then cancels and awaits the reader and
any handler still running. Per instance the state is a few small objects, so
that thousands of chargers fit in one process.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from ssl import SSLContext
from types import TracebackType
from typing import Any, ClassVar, Required, Self, TypedDict

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedError, InvalidStatus
from websockets.protocol import State
from websockets.typing import Subprotocol

from simulators import frames
from simulators.errors import CallError, ProtocolError
from simulators.frames import Frame, Payload
from simulators.handshake import basic_authorization, station_url
from simulators.responder import Handler, Responder

__all__ = [
    "CallError",
    "ChargePointSimulator",
    "Handler",
    "Payload",
    "ProtocolError",
    "SimulatorOptions",
]


class SimulatorOptions(TypedDict, total=False):
    """The keyword arguments of :class:`ChargePointSimulator`, for subclasses to pass on."""

    url: Required[str]
    password: str | bytes | None
    subprotocols: list[str] | None
    ssl: SSLContext | bool | None
    call_timeout: float
    username: str | None
    connect_options: Mapping[str, Any] | None


class ChargePointSimulator:
    """A charge point's side of OCPP-J, version-neutral: see ``ChargePoint16``/``201``."""

    subprotocol_name: ClassVar[str | None] = None
    """The subprotocol offered by default (``ocpp1.6``, ``ocpp2.0.1``); None offers none."""

    default_handlers: ClassVar[Mapping[str, Handler]] = {}
    """How this firmware answers the gateway's CALLs, by action, unless overridden."""

    __slots__ = (
        "_call_lock",
        "_closed",
        "_connect_options",
        "_headers",
        "_pending",
        "_reader",
        "_responder",
        "_ssl",
        "_subprotocols",
        "_unmatched",
        "_ws",
        "call_timeout",
        "charge_point_id",
        "url",
    )

    def __init__(
        self,
        charge_point_id: str,
        *,
        url: str,
        password: str | bytes | None = None,
        subprotocols: list[str] | None = None,
        ssl: SSLContext | bool | None = None,
        call_timeout: float = 10.0,
        username: str | None = None,
        connect_options: Mapping[str, Any] | None = None,
    ) -> None:
        """``connect_options`` go to ``websockets.asyncio.client.connect`` as keyword
        arguments (e.g. ``ping_interval``, ``compression``, ``proxy``)."""
        self.charge_point_id = charge_point_id
        self.url = station_url(url, charge_point_id)
        self.call_timeout = call_timeout
        if subprotocols is None:
            subprotocols = [] if self.subprotocol_name is None else [self.subprotocol_name]
        self._subprotocols = list(subprotocols)
        self._headers: dict[str, str] = {}
        if password is not None:
            user = charge_point_id if username is None else username
            self._headers["Authorization"] = basic_authorization(user, password)
        self._ssl = ssl
        self._connect_options = connect_options
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._call_lock = asyncio.Lock()
        self._pending: tuple[str, asyncio.Future[list[Any] | ConnectionClosed]] | None = None
        self._unmatched: asyncio.Queue[Frame | None] = asyncio.Queue()
        self._closed: ConnectionClosed | None = None
        self._responder = Responder(charge_point_id, self.default_handlers)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.charge_point_id!r} {self.url!r}>"

    # Connection

    async def connect(self) -> None:
        """Open the WebSocket and start the reader (OCPP-J 1.6 §3.1).

        Raises ``websockets.exceptions.InvalidStatus`` when the gateway refuses
        the upgrade; the opening handshake times out after ``call_timeout``.
        May be called again after the connection has closed.
        """
        if self._reader is not None and not self._reader.done():
            raise RuntimeError(f"{self.charge_point_id} is already connected")
        options: dict[str, Any] = {
            "subprotocols": [Subprotocol(name) for name in self._subprotocols] or None,
            "additional_headers": self._headers,
            "open_timeout": self.call_timeout,
            "proxy": None,
        }
        if self._ssl is not None:
            options["ssl"] = self._ssl
        options.update(self._connect_options or {})
        ws = await connect(self.url, **options)
        self._ws = ws
        self._closed = None
        self._unmatched = asyncio.Queue()
        self._reader = asyncio.create_task(
            self._read(ws), name=f"ocpp-sim:{self.charge_point_id}:reader"
        )

    async def handshake_status(self) -> int:
        """Connect and close again: the HTTP status of the opening handshake (101 when the
        gateway upgraded the connection, else its refusal: 401, 404, 429...)."""
        try:
            await self.connect()
        except InvalidStatus as refused:
            return refused.response.status_code
        await self.close()
        return 101

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the WebSocket (closing handshake), then stop the reader and the handlers."""
        if self._ws is not None:
            await self._ws.close(code, reason)
        await self._stop_tasks()

    async def abort(self) -> None:
        """Drop the TCP connection without a closing handshake, as on a power loss."""
        if self._ws is not None and self._ws.transport is not None:
            self._ws.transport.abort()
            await self._ws.wait_closed()
        await self._stop_tasks()

    async def wait_closed(self, timeout: float = 5.0) -> int | None:
        """Wait until the connection is closed (by either side); return :attr:`close_code`."""
        if self._ws is None:
            raise RuntimeError(f"{self.charge_point_id} never connected")
        async with asyncio.timeout(timeout):
            await self._ws.wait_closed()
            if self._reader is not None:
                await asyncio.wait({self._reader})
        return self.close_code

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def subprotocol(self) -> str | None:
        """The subprotocol the gateway selected, or None."""
        return None if self._ws is None else self._ws.subprotocol

    @property
    def close_code(self) -> int | None:
        """The close code received from the gateway (1006 if none); None while open."""
        return None if self._ws is None else self._ws.close_code

    @property
    def close_reason(self) -> str | None:
        """The close reason received from the gateway; None while open."""
        return None if self._ws is None else self._ws.close_reason

    # RPC: our CALLs

    async def call(
        self,
        action: str,
        payload: Payload,
        *,
        message_id: str | None = None,
        timeout: float | None = None,
    ) -> Payload:
        """Send a CALL and return its CALLRESULT payload (OCPP-J 1.6 §4.2.1-§4.2.3).

        Waits for the previous CALL to be answered first. Raises
        :class:`CallError`, :class:`ProtocolError`, ``TimeoutError`` after
        ``timeout`` (default ``call_timeout``) from the send, or
        ``ConnectionClosed``. A reply after the timeout goes to :meth:`next_frame`.
        """
        ws = self._connection()
        message_id = str(uuid.uuid4()) if message_id is None else message_id
        async with self._call_lock:
            future: asyncio.Future[list[Any] | ConnectionClosed]
            future = asyncio.get_running_loop().create_future()
            self._pending = (message_id, future)
            try:
                async with asyncio.timeout(self.call_timeout if timeout is None else timeout):
                    await ws.send(frames.call(message_id, action, payload))
                    reply = await future
            finally:
                self._pending = None
        if isinstance(reply, ConnectionClosed):
            raise self._closed_error()
        return frames.result_of(reply)

    async def send_raw(self, data: str | bytes, *, text: bool | None = None) -> None:
        """Send one message as is: str as a text frame, bytes as a binary frame.

        ``text=True`` sends bytes in a text frame (e.g. invalid UTF-8),
        ``text=False`` a str in a binary frame.
        """
        await self._connection().send(data, text=text)

    async def next_frame(self, timeout: float = 5.0) -> Frame:
        """The next message from the gateway that was neither an answer to our
        pending CALL nor a well-formed CALL: a list when it is a JSON array,
        else the text or bytes received. Raises ``ConnectionClosed`` once the
        queue is empty and the connection is closed, ``TimeoutError`` otherwise."""
        async with asyncio.timeout(timeout):
            frame = await self._unmatched.get()
        if frame is None:
            self._unmatched.put_nowait(None)
            raise self._closed_error()
        return frame

    # RPC: the gateway's CALLs

    @property
    def received_calls(self) -> list[tuple[str, Payload]]:
        """Every well-formed CALL received from the gateway, in order: (action, payload)."""
        return self._responder.received

    def set_handler(self, action: str, handler: Handler | None) -> None:
        """Answer ``action`` with ``handler`` (sync or async) instead of the default.

        ``None`` makes the action unsupported (CALLERROR ``NotImplemented``).
        """
        self._responder.set_handler(action, handler)

    async def wait_for_call(self, action: str, timeout: float = 5.0) -> Payload:
        """The payload of the oldest unconsumed CALL ``action`` from the gateway,
        waiting for it if needed. It is returned once the simulator has answered."""
        arrived = self._responder.arrived
        async with asyncio.timeout(timeout):
            while (payload := self._responder.take(action)) is None:
                if self._closed is not None:
                    raise self._closed_error()
                arrived.clear()
                await arrived.wait()
        return payload

    # Internals

    def _connection(self) -> ClientConnection:
        if self._ws is None:
            raise RuntimeError(f"{self.charge_point_id} is not connected")
        return self._ws

    def _closed_error(self) -> ConnectionClosed:
        """A fresh exception describing how the connection ended."""
        ws = self._ws
        if ws is not None and ws.protocol.state is State.CLOSED:
            return ws.protocol.close_exc
        return ConnectionClosedError(None, None)

    async def _read(self, ws: ClientConnection) -> None:
        try:
            while True:
                self._route(ws, frames.decode(await ws.recv()))
        except ConnectionClosed as exc:
            self._closed = exc
        finally:
            self._connection_lost()

    def _route(self, ws: ClientConnection, frame: Frame) -> None:
        incoming = frames.as_call(frame)
        if incoming is not None:
            self._responder.handle(ws, *incoming)
            return
        pending = self._pending
        if pending is not None and not pending[1].done() and isinstance(frame, list):
            if frames.reply_id(frame) == pending[0]:
                pending[1].set_result(frame)
                return
        self._unmatched.put_nowait(frame)

    def _connection_lost(self) -> None:
        if self._closed is None:
            self._closed = self._closed_error()
        if self._pending is not None and not self._pending[1].done():
            self._pending[1].set_result(self._closed)
        self._unmatched.put_nowait(None)
        self._responder.arrived.set()

    async def _stop_tasks(self) -> None:
        """Cancel and await the reader, then the answers still running."""
        reader = self._reader
        if reader is not None and reader is not asyncio.current_task() and not reader.done():
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
        await self._responder.stop()
