"""A scripted central system, to test simulators without a gateway (as httpx ships MockTransport).

:class:`FakeCsms` listens on 127.0.0.1, port 0, records every handshake
request and hands each accepted WebSocket to the test as a
:class:`CsmsConnection`, which the test scripts frame by frame. With
``auto_reply``, every CALL from a charger is answered at once with what the
function returns. It implements no OCPP logic: it is not a gateway.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from http import HTTPStatus
from types import TracebackType
from typing import Any, Self

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from simulators import frames
from simulators.frames import Frame, Payload

AutoReply = Callable[[str, Payload], Payload]
"""(action, payload) of a charger's CALL -> the CALLRESULT payload."""


class CsmsConnection:
    """The central system's end of one charger's WebSocket."""

    def __init__(self, ws: ServerConnection, auto_reply: AutoReply | None) -> None:
        self.ws = ws
        self.calls: list[tuple[str, Payload]] = []
        """Every well-formed CALL the charger sent, answered automatically or not."""
        self._auto_reply = auto_reply
        self._received: asyncio.Queue[Frame | None] = asyncio.Queue()

    @property
    def request(self) -> Request:
        assert self.ws.request is not None
        return self.ws.request

    @property
    def subprotocol(self) -> str | None:
        return self.ws.subprotocol

    async def recv(self, timeout: float = 5.0) -> Frame:
        """The next frame not answered automatically, decoded like ``next_frame``."""
        async with asyncio.timeout(timeout):
            frame = await self._received.get()
        if frame is None:
            self._received.put_nowait(None)
            raise self.ws.protocol.close_exc
        return frame

    async def expect_call(self, action: str, timeout: float = 5.0) -> tuple[str, Payload]:
        """The next frame, which must be a CALL ``action``: (message id, payload)."""
        frame = await self.recv(timeout)
        call = frames.as_call(frame)
        assert call is not None and call[1] == action, f"expected a {action} CALL, got {frame!r}"
        return call[0], call[2]

    async def send(self, frame: list[Any] | str | bytes) -> None:
        """A list as a JSON text frame; str and bytes as they are."""
        await self.ws.send(frames.dumps(frame) if isinstance(frame, list) else frame)

    async def reply(self, message_id: str, payload: Payload) -> None:
        await self.ws.send(frames.call_result(message_id, payload))

    async def reply_error(
        self,
        message_id: str,
        code: str,
        description: str = "",
        details: Payload | None = None,
    ) -> None:
        await self.ws.send(frames.call_error(message_id, code, description, details or {}))

    async def call(self, action: str, payload: Payload, timeout: float = 5.0) -> list[Any]:
        """Send a CALL and return the next frame, which must answer it."""
        message_id = str(uuid.uuid4())
        await self.ws.send(frames.call(message_id, action, payload))
        frame = await self.recv(timeout)
        assert isinstance(frame, list), f"expected a reply, got {frame!r}"
        assert frames.reply_id(frame) == message_id, f"expected a reply, got {frame!r}"
        return frame

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self.ws.close(code, reason)

    async def run(self) -> None:
        try:
            async for data in self.ws:
                frame = frames.decode(data)
                call = frames.as_call(frame)
                if call is not None:
                    self.calls.append((call[1], call[2]))
                    if self._auto_reply is not None:
                        reply = self._auto_reply(call[1], call[2])
                        await self.ws.send(frames.call_result(call[0], reply))
                        continue
                self._received.put_nowait(frame)
        except ConnectionClosed:
            pass
        finally:
            self._received.put_nowait(None)


class FakeCsms:
    """``async with FakeCsms() as csms:`` then connect a simulator to ``csms.url``."""

    def __init__(
        self,
        *,
        subprotocols: Sequence[str] = ("ocpp1.6", "ocpp2.0.1"),
        auto_reply: AutoReply | None = None,
        refuse: HTTPStatus | None = None,
    ) -> None:
        self.requests: list[Request] = []
        """Every handshake request received, accepted or refused."""
        self.refuse = refuse
        """When set, every upgrade is refused with this HTTP status."""
        self._subprotocols = list(subprotocols)
        self._auto_reply = auto_reply
        self._accepted: asyncio.Queue[CsmsConnection] = asyncio.Queue()
        self._server: Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "use FakeCsms in `async with`"
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"ws://{host}:{port}"

    async def accept(self, timeout: float = 5.0) -> CsmsConnection:
        """The next charger connection, once its WebSocket is open."""
        async with asyncio.timeout(timeout):
            return await self._accepted.get()

    async def __aenter__(self) -> Self:
        self._server = await serve(
            self._handle,
            "127.0.0.1",
            0,
            process_request=self._process_request,
            select_subprotocol=self._select_subprotocol,
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        self.requests.append(request)
        if self.refuse is None:
            return None
        return connection.respond(self.refuse, f"{self.refuse.phrase}\n")

    def _select_subprotocol(
        self, connection: ServerConnection, offered: Sequence[Subprotocol]
    ) -> Subprotocol | None:
        """The charger's first choice among ours; None completes without one."""
        return next((name for name in offered if name in self._subprotocols), None)

    async def _handle(self, ws: ServerConnection) -> None:
        connection = CsmsConnection(ws, self._auto_reply)
        self._accepted.put_nowait(connection)
        await connection.run()
