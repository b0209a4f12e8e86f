"""One charger's WebSocket: the OCPP-J RPC pump (OCPP-J 1.6 §4, 2.0.1 Part 4 §4).

Every CALL gets exactly one answer, in order: received CALLs are handled one
at a time (a charger may have one CALL outstanding). Nothing a charger sends
can end the connection except the size limit (1009, enforced by websockets)
and closing it: bad frames get a CALLERROR (see ``gateway.rpc.errors``).

When the connection is idle (nothing queued, nothing being handled, the
write buffer below its limit), a CALL is taken as soon as its frame is read,
in the transport's callback: one whose handler answers from memory
(Authorize, Heartbeat, status and notifications: ``Handlers.immediate``) is
answered there and then (no task switch, no queue, no await); one that waits
for the database is handed to a task of its own, which holds the
connection's turn until its answer is sent. Anything else, and anything
that arrives while a CALL is being handled, goes through the pump in order.

A CALL whose durable write the database cannot take (``StorageUnavailable``,
see ``gateway.store.health``) gets no answer: the connection is closed with
1013 (Try Again Later). A CALLERROR would use up one of the charger's
attempts at a transaction-related message and may make it drop the message
(OCPP 1.6 §3.7 ``TransactionMessageAttempts``, 2.0.1 E11-E13); a charger that
loses its connection keeps the message queued and sends it again once it
is back.

The gateway's own CALLs go through :meth:`ChargerConnection.call`: one
outstanding at a time, each with a timeout. Work started on behalf of the
connection (e.g. a remote stop decided by a handler) goes through
:meth:`ChargerConnection.spawn` and is cancelled when the connection ends.
"""

from __future__ import annotations

import asyncio
import contextvars
import re
import time
import uuid
from collections import deque
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any

import structlog
from structlog.contextvars import bind_contextvars, reset_contextvars
from websockets.asyncio.messages import Assembler
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode
from websockets.protocol import State

from gateway.ocpp_handlers.context import Handlers, Services, Session
from gateway.rpc import frames
from gateway.rpc.errors import Problem, RpcError, error_code
from gateway.rpc.replay import NEVER_REPLAYED, ReplayCache, payload_digest
from gateway.rpc.validation import known_actions, validate, validate_response, validator
from gateway.store.health import StorageUnavailable
from gateway.store.stations import StationRecord
from gateway.tasks import TaskSet

log = structlog.get_logger("gateway.connection")
READ_BUFFER = 64 * 1024
# The action of a CALL frame, read without parsing the JSON: decides whether the frame
# may be answered at once. Anything unusual (whitespace, escapes, no match) takes the
# pump, which parses the frame fully and reports what is wrong with it.
_CALL_ACTION = re.compile(
    rb'\s*\[\s*2\s*,\s*"(?:[^"\\]|\\.){1,72}"\s*,\s*"([A-Za-z]{1,64})"\s*,\s*\{'
)


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
    immediate: Callable[[bytes], bool] | None = None
    """Set by the connection's pump: answers a complete text message now, or returns False."""

    def process_event(self, event: Any) -> None:
        answer_now = self.immediate
        if (
            answer_now is not None
            and isinstance(event, Frame)
            and event.opcode is Opcode.TEXT
            and event.fin
            and type(event.data) is bytes
            and answer_now(event.data)
        ):
            return
        super().process_event(event)

    def send_now(self, text: str) -> None:
        """Write a text message without waiting (the caller checked the write buffer)."""
        self.protocol.send_text(text.encode())
        try:
            self.send_data()
        except Exception as exc:  # what websockets does on a failed write in data_received
            self.set_connection_exc(exc)
            self.transport.abort()

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
        handlers: Handlers,
        replay: ReplayCache,
        outbound_timeout: float,
    ) -> None:
        self.ws = ws
        self.ocpp_version = ocpp_version
        self.charge_point_id = ws.station.charge_point_id
        self._services = services
        self._handlers = handlers.awaited
        self._immediate = handlers.immediate
        self._immediate_names = handlers.immediate_on_the_wire
        self._awaited_names = handlers.awaited_on_the_wire
        self._in_hand: asyncio.Task[None] | None = None
        self._pumping = False
        self._context = contextvars.copy_context()
        """The connection's log bindings (it is created where they are bound): the
        context that calls taken in the transport's callback run in, a copy each."""
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
        """Pump messages until the connection closes; then cancel owned work.

        Most CALLs do not reach the pump: on an idle connection (nothing queued,
        no call in hand), a call answered from memory is answered in the
        transport's callback (``_answer_now``), and one that waits for the
        database is handled in a task of its own (``_handle_in_hand``), which
        holds the connection's turn (``_busy``) until its answer is sent. Anything
        that arrives meanwhile is queued for the pump, which waits for its turn:
        answers keep the order of the CALLs."""
        # Calls taken in the callback run in a copy of the connection's context, a new
        # copy per message (constant time): the message's own bindings then go with it
        # instead of staying on a long-lived context until the charger's next message
        # (thousands of such survivors per second make the collector's rounds longer).
        context = self._context
        self.ws.immediate = lambda data: context.copy().run(self._answer_now, data)
        try:
            while True:
                data, is_text = await self.ws.recv_message()
                # From the moment a frame leaves the queue until it is answered, nothing
                # is taken in the transport's callback, not even while the pump waits
                # for its turn behind a call in hand (which would let a later frame
                # overtake this one).
                self._pumping = True
                try:
                    async with self._busy:
                        await self._on_message(data, is_text)
                finally:
                    self._pumping = False
        except ConnectionClosed:
            pass
        finally:
            self.ws.immediate = None
            try:
                if self._in_hand is not None:  # a call handled off the pump: let it finish
                    await asyncio.shield(self._in_hand)
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
        try:
            with _Reply(self, call) as reply:
                reply.text = await self._answer(call)
        except StorageUnavailable as exc:
            log.warning(
                "durable work not stored; closing with 1013 so the charger keeps it",
                reason=exc.fault.reason,
            )
            await self.ws.close(1013, "try again later")
            return
        await self._send(reply.text)

    async def _send(self, text: str) -> None:
        """Write an answer now when the socket takes it (websockets' ``send`` would also
        enter and leave an async context manager per message); else wait as it would."""
        ws = self.ws
        if ws.protocol.state is State.OPEN and not ws.paused:
            ws.send_now(text)
        else:
            await ws.send(text)

    def _answer_now(self, data: bytes) -> bool:
        """Take a CALL on an idle connection: answer it now (immediate handler) or hand it
        to a task of its own (a handler that waits); False leaves the frame to the pump."""
        ws = self.ws
        if (
            self._pumping
            or self._busy.locked()
            or self._in_hand is not None
            or ws.recv_messages.opcodes  # type: ignore[attr-defined]
            or ws.paused
            or ws.protocol.state is not State.OPEN
            or not self.session.booted
        ):
            return False
        found = _CALL_ACTION.match(data)
        if found is None:
            return False
        immediate = found.group(1) in self._immediate_names
        if not immediate and found.group(1) not in self._awaited_names:
            return False
        try:
            call = frames.parse(data)
        except RpcError:
            return False
        assert isinstance(call, frames.Call)
        if immediate:
            with _Reply(self, call) as reply:
                reply.text = self._answer_immediate(call)
            ws.send_now(reply.text)
            return True
        # A call that waits (for the database): handled in its own task, which holds the
        # connection's turn from its first step. Created now, that step runs before the
        # pump could wake up for any later frame, and until the task ends every later
        # frame goes to the pump (``_in_hand``), which waits for its turn.
        self._in_hand = asyncio.get_running_loop().create_task(
            self._handle_in_hand(call), context=self._context.copy()
        )
        return True

    async def _handle_in_hand(self, call: frames.Call) -> None:
        try:
            async with self._busy:
                await self._on_call(call)
        except ConnectionClosed:
            pass  # the answer could not be sent; the work was done
        except Exception:
            # A gateway bug past _Reply (which answers handler failures with a CALLERROR):
            # the call may be unanswered, so end the connection as the pump would.
            log.exception("call handling failed", action=call.action[:40])
            await self.ws.close(1011, "internal error")
        finally:
            self._in_hand = None

    async def _answer(self, call: frames.Call) -> str:
        if call.action in self._immediate:
            return self._answer_immediate(call)
        replayed, digest = self._replayed(call)
        if replayed is not None:
            return replayed
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
        self._admit(call)
        return self._finish(call, await handler(self.session, call), digest)

    def _answer_immediate(self, call: frames.Call) -> str:
        """Answered afresh even when retried: nothing durable is done twice (no replay)."""
        self._admit(call)
        return self._finish(call, self._immediate[call.action](self.session, call), b"")

    def _replayed(self, call: frames.Call) -> tuple[str | None, bytes]:
        """The answer already given to this message id (OCPP-J retries), and the digest."""
        if call.action in NEVER_REPLAYED:
            return None, b""
        digest = payload_digest(call.action, call.payload)
        previous = self._replay.get(self.charge_point_id, call.message_id)
        if previous is None:
            return None, digest
        if previous.digest != digest:
            raise RpcError(
                Problem.DUPLICATE_ID,
                "message id already used for another CALL",
                message_id=call.message_id,
            )
        log.info("repeated CALL answered from the replay cache")
        return previous.frame, digest

    def _admit(self, call: frames.Call) -> None:
        """Boot first (OCPP-J: anything else before it is refused), then the schema."""
        if not self.session.booted and call.action != "BootNotification":
            raise RpcError(
                Problem.SECURITY,
                "BootNotification must be accepted first",
                message_id=call.message_id,
            )
        validate(self.ocpp_version, call.action, call.payload, call.message_id)

    def _finish(self, call: frames.Call, response: dict[str, Any], digest: bytes) -> str:
        validate_response(self.ocpp_version, call.action, response)
        text = frames.call_result(call.message_id, response)
        if digest:
            self._replay.put(self.charge_point_id, call.message_id, digest, text)
        return text

    def _error_frame(self, exc: RpcError, action: str) -> str:
        code = error_code(exc.problem, self.ocpp_version)
        metrics = self._services.metrics
        metrics.child(metrics.callerrors, self.ocpp_version, code).inc()
        metrics.child(metrics.messages, self.ocpp_version, action, "callerror").inc()
        log.info(
            "CALLERROR sent", code=code, description=exc.description, message_id=exc.message_id
        )
        return frames.call_error(exc.message_id, code, exc.description, exc.details)

    async def _send_error(self, exc: RpcError, action: str) -> None:
        await self._send(self._error_frame(exc, action))

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


class _Reply:
    """Handling one CALL: the answer's text, or the CALLERROR its failure becomes.

    Binds the message's log context, turns an :class:`RpcError` (or a handler
    bug) into the CALLERROR frame, counts the outcome and the handling time.
    Used the same way by the pump (awaiting handlers) and by immediate answers.
    """

    __slots__ = ("_action", "_bound", "_call", "_conn", "_started", "text")

    def __init__(self, conn: ChargerConnection, call: frames.Call) -> None:
        self._conn = conn
        self._call = call
        self._action = call.action if call.action in conn._known else "unknown"
        self.text = ""

    def __enter__(self) -> _Reply:
        self._started = time.perf_counter()
        # Bound for this message's log lines and reset after (cheaper than
        # structlog's bound_contextvars, which copies the whole context twice).
        self._bound = bind_contextvars(
            message_id=self._call.message_id, action=self._call.action[:40]
        )
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        conn, action = self._conn, self._action
        metrics = conn._services.metrics
        try:
            if exc is None:
                metrics.child(metrics.messages, conn.ocpp_version, action, "result").inc()
            elif isinstance(exc, StorageUnavailable):  # no answer: the connection closes
                metrics.child(metrics.messages, conn.ocpp_version, action, "deferred").inc()
                return False
            elif isinstance(exc, RpcError):
                self.text = conn._error_frame(exc, action)
            elif isinstance(exc, Exception):
                log.error("handler failed", exc_info=exc)
                internal = RpcError(
                    Problem.INTERNAL, "internal error", message_id=self._call.message_id
                )
                self.text = conn._error_frame(internal, action)
            else:
                return False  # cancellation and exits propagate
            metrics.child(metrics.handler_seconds, action).observe(
                time.perf_counter() - self._started
            )
            return True
        finally:
            reset_contextvars(**self._bound)
