"""One charger's WebSocket: the OCPP-J RPC pump (OCPP-J 1.6 §4, 2.0.1 Part 4 §4).

Every CALL gets exactly one answer, in order: received CALLs are handled one
at a time (a charger may have one CALL outstanding). Nothing a charger sends
can end the connection except the size limit (1009, enforced by websockets)
and closing it: bad frames get a CALLERROR (see ``gateway.rpc.errors``).

The gateway's own CALLs go through :meth:`ChargerConnection.call`: one
outstanding at a time, each with a timeout. Work started on behalf of the
connection (e.g. a remote stop decided by a handler) goes through
:meth:`ChargerConnection.spawn` and is cancelled when the connection ends.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import deque
from collections.abc import Coroutine
from typing import Any

import structlog
from structlog.contextvars import bind_contextvars, reset_contextvars
from websockets.asyncio.messages import Assembler
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode

from gateway.ocpp_handlers.context import Handler, Services, Session
from gateway.rpc import frames
from gateway.rpc.errors import Problem, RpcError, error_code
from gateway.rpc.replay import NEVER_REPLAYED, ReplayCache, payload_digest
from gateway.rpc.validation import known_actions, validate, validate_response, validator
from gateway.store.stations import StationRecord
from gateway.tasks import TaskSet

log = structlog.get_logger("gateway.connection")
READ_BUFFER = 64 * 1024


class _OpcodeAssembler(Assembler):
    """Remembers whether each message began as a text or a binary frame."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.opcodes: deque[Opcode] = deque()

    def put(self, frame: Frame) -> None:
        if frame.opcode is not Opcode.CONT:
            self.opcodes.append(frame.opcode)
        super().put(frame)


class OcppServerConnection(ServerConnection):
    """A websockets connection that receives raw bytes and knows each message's opcode.

    OCPP-J answers invalid UTF-8 and binary frames with a CALLERROR; websockets
    would close the connection (1007) on invalid UTF-8 if it decoded text.
    """

    station: StationRecord

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        assert isinstance(transport, asyncio.Transport)
        # asyncio reads into a fresh 256 KiB buffer per read by default; OCPP frames are
        # small, and a 64 KiB read costs ~3 us instead of ~19 us (private attribute, so
        # set only where it exists).
        if hasattr(transport, "max_size"):
            transport.max_size = READ_BUFFER
        self.recv_messages = _OpcodeAssembler(
            self.max_queue_high,
            self.max_queue_low,
            pause=transport.pause_reading,
            resume=transport.resume_reading,
        )

    async def recv_message(self) -> tuple[bytes, bool]:
        """The next message as bytes, and whether it was sent as text."""
        data = await self.recv(decode=False)
        assembler = self.recv_messages
        assert isinstance(assembler, _OpcodeAssembler)
        return data, assembler.opcodes.popleft() is Opcode.TEXT


class OutboundCallError(Exception):
    """The charger answered the gateway's CALL with a CALLERROR."""

    def __init__(self, action: str, code: str, description: str) -> None:
        super().__init__(f"{action}: {code}: {description}")
        self.code = code
        self.description = description


class ChargerConnection:
    def __init__(
        self,
        ws: OcppServerConnection,
        ocpp_version: str,
        services: Services,
        handlers: dict[str, Handler],
        replay: ReplayCache,
        outbound_timeout: float,
    ) -> None:
        self.ws = ws
        self.ocpp_version = ocpp_version
        self.charge_point_id = ws.station.charge_point_id
        self._services = services
        self._handlers = handlers
        self._replay = replay
        self._outbound_timeout = outbound_timeout
        self._known = known_actions(ocpp_version)
        self._busy = asyncio.Lock()
        self._outbound_lock = asyncio.Lock()
        self._pending: tuple[str, asyncio.Future[frames.Frame]] | None = None
        self._tasks = TaskSet(self.charge_point_id)
        self.session = Session(
            ws.station,
            ocpp_version,
            services,
            self,
            on_boot=lambda: replay.clear(self.charge_point_id),
        )

    # -- receiving ------------------------------------------------------------------------

    async def serve(self) -> None:
        """Pump messages until the connection closes; then cancel owned work."""
        try:
            while True:
                data, is_text = await self.ws.recv_message()
                async with self._busy:
                    await self._on_message(data, is_text)
        except ConnectionClosed:
            pass
        finally:
            await self._cleanup()

    async def _on_message(self, data: bytes, is_text: bool) -> None:
        try:
            frame = frames.parse(data, is_text=is_text)
        except frames.MalformedReply as exc:
            log.warning("malformed reply dropped", problem=exc.description)
            return
        except RpcError as exc:
            await self._send_error(exc, "unknown")
            return
        if isinstance(frame, frames.Call):
            await self._on_call(frame)
        else:
            self._on_reply(frame)

    async def _on_call(self, call: frames.Call) -> None:
        started = time.perf_counter()
        action = call.action if call.action in self._known else "unknown"
        metrics = self._services.metrics
        # Bound for this message's log lines and reset after (cheaper than
        # structlog's bound_contextvars, which copies the whole context twice).
        bound = bind_contextvars(message_id=call.message_id, action=call.action[:40])
        try:
            try:
                text = await self._answer(call)
            except RpcError as exc:
                await self._send_error(exc, action)
            except Exception:
                log.exception("handler failed")
                await self._send_error(
                    RpcError(Problem.INTERNAL, "internal error", message_id=call.message_id),
                    action,
                )
            else:
                await self.ws.send(text)
                metrics.child(metrics.messages, self.ocpp_version, action, "result").inc()
            metrics.child(metrics.handler_seconds, action).observe(time.perf_counter() - started)
        finally:
            reset_contextvars(**bound)

    async def _answer(self, call: frames.Call) -> str:
        replayable = call.action not in NEVER_REPLAYED
        digest = b""
        if replayable:
            digest = payload_digest(call.action, call.payload)
            previous = self._replay.get(self.charge_point_id, call.message_id)
            if previous is not None:
                if previous.digest != digest:
                    raise RpcError(
                        Problem.DUPLICATE_ID,
                        "message id already used for another CALL",
                        message_id=call.message_id,
                    )
                log.info("repeated CALL answered from the replay cache")
                return previous.frame
        handler = self._handlers.get(call.action)
        if handler is None:
            problem = (
                Problem.NOT_SUPPORTED if call.action in self._known else Problem.NOT_IMPLEMENTED
            )
            raise RpcError(
                problem,
                f"action {call.action[:40]!r} is not "
                + ("supported" if problem is Problem.NOT_SUPPORTED else "implemented"),
                message_id=call.message_id,
            )
        if not self.session.booted and call.action != "BootNotification":
            raise RpcError(
                Problem.SECURITY,
                "BootNotification must be accepted first",
                message_id=call.message_id,
            )
        validate(self.ocpp_version, call.action, call.payload, call.message_id)
        response = await handler(self.session, call)
        validate_response(self.ocpp_version, call.action, response)
        text = frames.call_result(call.message_id, response)
        if replayable:
            self._replay.put(self.charge_point_id, call.message_id, digest, text)
        return text

    async def _send_error(self, exc: RpcError, action: str) -> None:
        code = error_code(exc.problem, self.ocpp_version)
        metrics = self._services.metrics
        metrics.child(metrics.callerrors, self.ocpp_version, code).inc()
        metrics.child(metrics.messages, self.ocpp_version, action, "callerror").inc()
        log.info(
            "CALLERROR sent", code=code, description=exc.description, message_id=exc.message_id
        )
        await self.ws.send(frames.call_error(exc.message_id, code, exc.description, exc.details))

    def _on_reply(self, reply: frames.CallResult | frames.CallError) -> None:
        pending = self._pending
        if pending is None or pending[0] != reply.message_id or pending[1].done():
            log.warning("unexpected reply dropped", message_id=reply.message_id)
            return
        pending[1].set_result(reply)

    # -- the gateway's own calls -----------------------------------------------------------

    async def call(
        self, action: str, payload: dict[str, Any], timeout: float | None = None
    ) -> dict[str, Any]:
        """Send a CALL to the charger and wait for its answer (one outstanding at a time)."""
        validator(self.ocpp_version, action)(payload)
        metrics = self._services.metrics
        async with self._outbound_lock:
            message_id = str(uuid.uuid4())
            future: asyncio.Future[frames.Frame] = asyncio.get_running_loop().create_future()
            self._pending = (message_id, future)
            try:
                await self.ws.send(frames.call(message_id, action, payload))
                async with asyncio.timeout(timeout or self._outbound_timeout):
                    reply = await future
            except TimeoutError:
                metrics.outbound_calls.labels(action, "timeout").inc()
                raise
            finally:
                self._pending = None
        if isinstance(reply, frames.CallError):
            metrics.outbound_calls.labels(action, "callerror").inc()
            raise OutboundCallError(action, reply.code, reply.description)
        assert isinstance(reply, frames.CallResult)
        validate_response(self.ocpp_version, action, reply.payload)
        metrics.outbound_calls.labels(action, "result").inc()
        return reply.payload

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        """Run background work owned by this connection (cancelled when it closes)."""
        self._tasks.spawn(coro, name)

    # -- ending ----------------------------------------------------------------------------

    async def close(self, code: int, reason: str) -> None:
        """Close after the message being handled (if any) has been answered."""
        async with self._busy:
            await self.ws.close(code, reason)

    async def _cleanup(self) -> None:
        if self._pending is not None and not self._pending[1].done():
            self._pending[1].cancel()
        await self._tasks.cancel_all()
