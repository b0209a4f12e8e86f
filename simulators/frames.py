"""OCPP-J messages, built and read without I/O (OCPP-J 1.6 §4.1-§4.2, 2.0.1 Part 4 §4).

``[2, id, action, payload]`` CALL, ``[3, id, payload]`` CALLRESULT,
``[4, id, code, description, details]`` CALLERROR. Reading is lenient on
purpose: the simulator tests a gateway, so whatever the gateway sends is kept
for the test to look at, and only a reply to our own CALL is judged.
"""

from __future__ import annotations

import json
from typing import Any

from simulators.errors import CallError, ProtocolError

CALL, CALLRESULT, CALLERROR = 2, 3, 4

Payload = dict[str, Any]
Frame = list[Any] | str | bytes
"""A received message: a JSON array when it is one, else the text or bytes as sent."""


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def call(message_id: str, action: str, payload: Payload) -> str:
    return dumps([CALL, message_id, action, payload])


def call_result(message_id: str, payload: Payload) -> str:
    return dumps([CALLRESULT, message_id, payload])


def call_error(message_id: str, code: str, description: str, details: Payload) -> str:
    return dumps([CALLERROR, message_id, code, description, details])


def decode(data: str | bytes) -> Frame:
    """A text message holding a JSON array becomes a list; anything else stays raw.

    Binary messages stay bytes so that a test can see the gateway used the
    wrong frame type (OCPP-J uses text frames only).
    """
    if isinstance(data, bytes):
        return data
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):
        return data
    return value if isinstance(value, list) else data


def as_call(frame: Frame) -> tuple[str, str, Payload] | None:
    """(message id, action, payload) when ``frame`` is a well-formed CALL."""
    if (
        isinstance(frame, list)
        and len(frame) == 4
        and type(frame[0]) is int
        and frame[0] == CALL
        and isinstance(frame[1], str)
        and isinstance(frame[2], str)
        and isinstance(frame[3], dict)
    ):
        return frame[1], frame[2], frame[3]
    return None


def reply_id(frame: Frame) -> str | None:
    """The message id of a CALLRESULT or CALLERROR, well-formed or not."""
    if (
        isinstance(frame, list)
        and len(frame) >= 2
        and type(frame[0]) is int
        and frame[0] in (CALLRESULT, CALLERROR)
        and isinstance(frame[1], str)
    ):
        return frame[1]
    return None


def result_of(frame: list[Any]) -> Payload:
    """The CALLRESULT payload; raises :class:`CallError` or :class:`ProtocolError`."""
    if frame[0] == CALLRESULT:
        if len(frame) == 3 and isinstance(frame[2], dict):
            return frame[2]
        raise ProtocolError("malformed CALLRESULT", frame)
    if len(frame) == 5 and isinstance(frame[2], str) and isinstance(frame[3], str):
        details = frame[4] if isinstance(frame[4], dict) else {}
        raise CallError(frame[2], frame[3], details, message_id=frame[1])
    raise ProtocolError("malformed CALLERROR", frame)
