"""What a simulated charge point raises and answers (OCPP-J 1.6 §4.2.3, 2.0.1 Part 4 §4.2.3).

The tree, for code that drives a gateway::

    Exception
     ├── CallError       the gateway answered our CALL with a CALLERROR
     │                   (raise it from a handler to answer the gateway's CALL
     │                   with that CALLERROR)
     └── ProtocolError   the gateway answered our CALL with a frame that is
                         neither a well-formed CALLRESULT nor CALLERROR
    TimeoutError         no answer within the call timeout (monotonic clock)
    websockets.exceptions.ConnectionClosed
                         the connection ended before the answer, or is closed
    websockets.exceptions.InvalidStatus
                         the gateway refused the WebSocket upgrade; read
                         ``exc.response.status_code``

Answers to the gateway's CALLs: an action without a handler gets CALLERROR
``NotImplemented``; a handler raising :class:`CallError` (or any exception with
a string ``code``, such as the ``ocpp`` package's ``OCPPError``) gets that
code; any other exception gets ``InternalError``.
"""

from __future__ import annotations

from typing import Any


class CallError(Exception):
    """A CALLERROR: ``[4, messageId, errorCode, errorDescription, errorDetails]``."""

    def __init__(
        self,
        code: str,
        description: str = "",
        details: dict[str, Any] | None = None,
        *,
        message_id: str = "",
    ) -> None:
        super().__init__(code, description)
        self.message_id = message_id
        self.code = code
        self.description = description
        self.details: dict[str, Any] = {} if details is None else details

    def __str__(self) -> str:
        return f"{self.code}: {self.description}" if self.description else self.code


class ProtocolError(Exception):
    """The reply to our CALL broke OCPP-J framing; ``frame`` is what arrived."""

    def __init__(self, message: str, frame: Any) -> None:
        super().__init__(f"{message}: {frame!r:.200}")
        self.frame = frame


def error_answer(exc: Exception) -> tuple[str, str, dict[str, Any]]:
    """(errorCode, errorDescription, errorDetails) answering a CALL whose handler raised."""
    code = getattr(exc, "code", None)
    if not isinstance(code, str):
        return "InternalError", f"{type(exc).__name__}: {exc}", {}
    description = getattr(exc, "description", "")
    details = getattr(exc, "details", None)
    return (
        code,
        description if isinstance(description, str) else str(description),
        details if isinstance(details, dict) else {},
    )
