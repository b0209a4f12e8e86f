"""The error model: which problem becomes which CALLERROR code, per OCPP version.

Every problem the gateway reports to a charger is a :class:`RpcError` carrying
a version-neutral :class:`Problem`; :func:`error_code` maps it to the
version's code (OCPP-J 1.6 §4.2.3, OCPP 2.0.1 Part 4 §4.3). The spellings
differ between versions ("FormationViolation" / "FormatViolation",
"OccurenceConstraintViolation" / "OccurrenceConstraintViolation").

======================  ============================  ===========================
Problem                 1.6                           2.0.1
======================  ============================  ===========================
frame (not an RPC)      FormationViolation            RpcFrameworkError
message type unknown    FormationViolation            MessageTypeNotSupported
payload syntax          FormationViolation            FormatViolation
missing field           OccurenceConstraintViolation  OccurrenceConstraintViolation
wrong JSON type         TypeConstraintViolation       TypeConstraintViolation
bad value / too long    PropertyConstraintViolation   PropertyConstraintViolation
unknown action          NotImplemented                NotImplemented
action not supported    NotSupported                  NotSupported
before BootNotification SecurityError                 SecurityError
message id reused       ProtocolError                 RpcFrameworkError
handler failure         InternalError                 InternalError
======================  ============================  ===========================

"Unknown action" is an action the version does not define at all; "not
supported" is an action the version defines that the gateway does not handle
(the ``ocpp`` package swaps these two; we follow the spec). When the message
id cannot be read the CALLERROR carries ``"-1"``. ``errorDescription`` is cut
to 255 characters. HTTP refusals before the upgrade (400, 401, 404, 429, and
503 while the database cannot take durable writes) are decided in
``gateway.transport.handshake``.

A CALL whose durable write cannot be stored (``StorageUnavailable``) gets no
CALLERROR: its connection is closed with 1013, so that the charger keeps the
message (see ``gateway.transport.connection``).
"""

from __future__ import annotations

from enum import Enum
from typing import Any

UNREADABLE_ID = "-1"
MAX_DESCRIPTION = 255


class Problem(Enum):
    FRAME = "frame"
    MESSAGE_TYPE = "message_type"
    PAYLOAD_SYNTAX = "payload_syntax"
    OCCURRENCE = "occurrence"
    TYPE = "type"
    PROPERTY = "property"
    NOT_IMPLEMENTED = "not_implemented"
    NOT_SUPPORTED = "not_supported"
    SECURITY = "security"
    DUPLICATE_ID = "duplicate_id"
    INTERNAL = "internal"


_CODES: dict[Problem, tuple[str, str]] = {
    Problem.FRAME: ("FormationViolation", "RpcFrameworkError"),
    Problem.MESSAGE_TYPE: ("FormationViolation", "MessageTypeNotSupported"),
    Problem.PAYLOAD_SYNTAX: ("FormationViolation", "FormatViolation"),
    Problem.OCCURRENCE: ("OccurenceConstraintViolation", "OccurrenceConstraintViolation"),
    Problem.TYPE: ("TypeConstraintViolation", "TypeConstraintViolation"),
    Problem.PROPERTY: ("PropertyConstraintViolation", "PropertyConstraintViolation"),
    Problem.NOT_IMPLEMENTED: ("NotImplemented", "NotImplemented"),
    Problem.NOT_SUPPORTED: ("NotSupported", "NotSupported"),
    Problem.SECURITY: ("SecurityError", "SecurityError"),
    Problem.DUPLICATE_ID: ("ProtocolError", "RpcFrameworkError"),
    Problem.INTERNAL: ("InternalError", "InternalError"),
}


class RpcError(Exception):
    """A problem to answer with a CALLERROR."""

    def __init__(
        self,
        problem: Problem,
        description: str,
        *,
        message_id: str = UNREADABLE_ID,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(description)
        self.problem = problem
        self.description = description[:MAX_DESCRIPTION]
        self.message_id = message_id
        self.details = details or {}


def error_code(problem: Problem, ocpp_version: str) -> str:
    v16, v201 = _CODES[problem]
    return v16 if ocpp_version == "1.6" else v201
