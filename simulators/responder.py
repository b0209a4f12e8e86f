"""Answering the gateway's CALLs as a charger's firmware would (OCPP-J 1.6 §4.2, 2.0.1 Part 4 §4.2).

Each well-formed CALL is recorded in ``received``, then answered by its
handler in a task of its own, so that a handler may itself send a CALL and
wait for its answer (firmware sends StartTransaction after accepting a
RemoteStartTransaction) without blocking the reader. The tasks are owned
here and cancelled by :meth:`Responder.stop`. Once answered, the payload is
available to :meth:`Responder.take` and ``arrived`` is set.

An action without a handler gets CALLERROR ``NotImplemented``; a handler's
exception becomes a CALLERROR as described in :mod:`simulators.errors`.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Mapping

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from simulators import frames
from simulators.errors import error_answer
from simulators.frames import Payload

Handler = Callable[[Payload], Payload | Awaitable[Payload]]
"""Answers one CALL from the gateway: takes its payload, returns the response payload."""

log = logging.getLogger("simulators")


class Responder:
    """The gateway's CALLs to one charger: handlers, records, answering tasks."""

    __slots__ = ("_defaults", "_handlers", "_tasks", "_unconsumed", "arrived", "name", "received")

    def __init__(self, name: str, defaults: Mapping[str, Handler]) -> None:
        self.name = name
        self.received: list[tuple[str, Payload]] = []
        self.arrived = asyncio.Event()
        self._defaults = defaults
        self._handlers: dict[str, Handler | None] = {}
        self._unconsumed: dict[str, deque[Payload]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def set_handler(self, action: str, handler: Handler | None) -> None:
        self._handlers[action] = handler

    def take(self, action: str) -> Payload | None:
        """The oldest answered, not yet taken CALL ``action``, if any."""
        waiting = self._unconsumed.get(action)
        return waiting.popleft() if waiting else None

    def handle(self, ws: ClientConnection, message_id: str, action: str, payload: Payload) -> None:
        """Record a CALL and start answering it on ``ws``."""
        self.received.append((action, payload))
        task = asyncio.create_task(
            self._answer(ws, message_id, action, payload), name=f"ocpp-sim:{self.name}:{action}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def answer(self, message_id: str, action: str, payload: Payload) -> str:
        """The CALLRESULT or CALLERROR frame for one CALL (OCPP-J 1.6 §4.2.2-§4.2.3)."""
        handler = self._handlers[action] if action in self._handlers else self._defaults.get(action)
        if handler is None:
            description = f"{action} is not supported by this simulator"
            return frames.call_error(message_id, "NotImplemented", description, {})
        try:
            result = handler(payload)
            response = await result if inspect.isawaitable(result) else result
            return frames.call_result(message_id, response)
        except Exception as exc:
            code, description, details = error_answer(exc)
            if code == "InternalError":
                log.warning("%s: handler for %s failed", self.name, action, exc_info=True)
            return frames.call_error(message_id, code, description, details)

    async def stop(self) -> None:
        """Cancel and await the answers still running (never the calling task)."""
        current = asyncio.current_task()
        tasks = [task for task in self._tasks if task is not current and not task.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _answer(
        self, ws: ClientConnection, message_id: str, action: str, payload: Payload
    ) -> None:
        try:
            await ws.send(await self.answer(message_id, action, payload))
        except ConnectionClosed:
            pass
        finally:
            self._unconsumed.setdefault(action, deque()).append(payload)
            self.arrived.set()
