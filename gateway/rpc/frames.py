"""OCPP-J frames, parsed and built without I/O (OCPP-J 1.6 §4, OCPP 2.0.1 Part 4 §4).

``[2, id, action, payload]`` CALL, ``[3, id, payload]`` CALLRESULT,
``[4, id, code, description, details]`` CALLERROR. :func:`parse` turns one
received WebSocket message into one of these or raises :class:`RpcError`;
it never lets a hostile frame escape as another exception: JSON nested
100,000 deep, a 5,000-digit number, NaN, invalid UTF-8, a lone UTF-16
surrogate escape (``"\\ud800"``: valid JSON syntax, but no Unicode text, and
what no UTF-8 text frame can carry otherwise; RFC 8259 §8.2) and binary frames
are all reported as problems. Integers are limited to 64 bits so that nothing
downstream (SQLite, arithmetic) meets an unbounded number.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway.rpc.errors import UNREADABLE_ID, Problem, RpcError

CALL, CALLRESULT, CALLERROR = 2, 3, 4
MAX_MESSAGE_ID = 36
_INT_LIMIT = 2**63


@dataclass(frozen=True, slots=True)
class Call:
    message_id: str
    action: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CallResult:
    message_id: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CallError:
    message_id: str
    code: str
    description: str
    details: dict[str, Any]


Frame = Call | CallResult | CallError


class MalformedReply(RpcError):
    """A broken CALLRESULT or CALLERROR: logged and dropped, never answered."""


def _parse_int(text: str) -> int:
    if len(text) > 20:
        raise ValueError("integer out of range")
    value = int(text)
    if not -_INT_LIMIT <= value < _INT_LIMIT:
        raise ValueError("integer out of range")
    return value


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("number out of range")
    return value


def _reject_constant(text: str) -> None:
    raise ValueError(f"{text} is not JSON")


_decoder = json.JSONDecoder(
    parse_int=_parse_int, parse_float=_parse_float, parse_constant=_reject_constant
)


def loads(text: str) -> Any:
    """Strict JSON: 64-bit integers, finite numbers, bounded by the recursion limit."""
    return _decoder.decode(text)


def parse(data: str | bytes, *, is_text: bool = True) -> Frame:
    if not is_text:
        raise RpcError(Problem.FRAME, "OCPP-J uses text frames; a binary frame was received")
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RpcError(Problem.FRAME, f"invalid UTF-8 at byte {exc.start}") from None
    try:
        message = loads(data)
    except RecursionError:
        raise RpcError(Problem.FRAME, "invalid JSON: nested too deeply") from None
    except ValueError as exc:
        raise RpcError(Problem.FRAME, f"invalid JSON: {exc}") from None
    if not isinstance(message, list) or not message:
        raise RpcError(Problem.FRAME, "an OCPP-J message is a non-empty JSON array")
    if "\\u" in data and not _is_unicode(message):
        _refuse_surrogate(message)
    type_id = message[0]
    if type(type_id) is not int or type_id not in (CALL, CALLRESULT, CALLERROR):
        raise RpcError(
            Problem.MESSAGE_TYPE,
            f"message type {str(type_id)[:20]!r} is not 2, 3 or 4",
            message_id=_readable_id(message),
        )
    if type_id != CALL:
        return _parse_reply(message, type_id)
    message_id = _message_id(message)
    if len(message) != 4:
        raise RpcError(Problem.FRAME, "a CALL has 4 elements", message_id=message_id)
    _, _, action, payload = message
    if not isinstance(action, str) or not action:
        raise RpcError(Problem.FRAME, "the action must be a string", message_id=message_id)
    if not isinstance(payload, dict):
        raise RpcError(
            Problem.PAYLOAD_SYNTAX, "the payload must be a JSON object", message_id=message_id
        )
    return Call(message_id, action, payload)


def _is_unicode(message: list[Any]) -> bool:
    """False when a string (a key or a value) holds a lone surrogate."""
    try:
        json.dumps(message, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _refuse_surrogate(message: list[Any]) -> None:
    text = "a string holds a lone UTF-16 surrogate escape, which is not Unicode text"
    message_id = _readable_id(message)
    if not _is_unicode([message_id]):
        message_id = UNREADABLE_ID  # never echoed back: the answer could not be encoded
    if message[0] != CALL:
        raise MalformedReply(Problem.FRAME, text, message_id=message_id)
    if message_id == UNREADABLE_ID or not _is_unicode(message[:3]):
        raise RpcError(Problem.FRAME, text, message_id=message_id)
    raise RpcError(Problem.PAYLOAD_SYNTAX, f"the payload: {text}", message_id=message_id)


def _parse_reply(message: list[Any], type_id: int) -> CallResult | CallError:
    if len(message) < 2 or not _valid_id(message[1]):
        raise MalformedReply(Problem.FRAME, "reply without a readable message id")
    message_id = str(message[1])
    if type_id == CALLRESULT:
        if len(message) != 3 or not isinstance(message[2], dict):
            raise MalformedReply(Problem.FRAME, "malformed CALLRESULT", message_id=message_id)
        return CallResult(message_id, message[2])
    if len(message) != 5 or not isinstance(message[2], str) or not isinstance(message[3], str):
        raise MalformedReply(Problem.FRAME, "malformed CALLERROR", message_id=message_id)
    details = message[4] if isinstance(message[4], dict) else {}
    return CallError(message_id, message[2], message[3], details)


def _readable_id(message: list[Any]) -> str:
    if len(message) > 1 and _valid_id(message[1]):
        return str(message[1])
    return UNREADABLE_ID


def _valid_id(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_MESSAGE_ID


def _message_id(message: list[Any]) -> str:
    if len(message) < 2 or not _valid_id(message[1]):
        raise RpcError(Problem.FRAME, "the message id must be a string of 1 to 36 characters")
    return str(message[1])


def json_encoder(*, sort_keys: bool = False, ensure_ascii: bool = False) -> Callable[[Any], str]:
    """Compact JSON text of a JSON tree (what ``json.dumps(value, separators=(",", ":"),
    ...)`` returns), with the C encoder built once instead of at every call."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # no C accelerator
        return json.JSONEncoder(
            separators=(",", ":"), sort_keys=sort_keys, ensure_ascii=ensure_ascii
        ).encode
    quote = json.encoder.encode_basestring_ascii if ensure_ascii else json.encoder.encode_basestring
    # default: the stock TypeError for a value JSON cannot represent.
    encode = make(None, json.JSONEncoder().default, quote, None, ":", ",", sort_keys, False, True)

    def dumps(value: Any) -> str:
        return "".join(encode(value, 0))

    return dumps


dumps = json_encoder()
"""Compact JSON, UTF-8 characters kept as they are (OCPP-J frames)."""


def call_result(message_id: str, payload: dict[str, Any]) -> str:
    return dumps([CALLRESULT, message_id, payload])


def call_error(message_id: str, code: str, description: str, details: dict[str, Any]) -> str:
    return dumps([CALLERROR, message_id, code, description, details])


def call(message_id: str, action: str, payload: dict[str, Any]) -> str:
    return dumps([CALL, message_id, action, payload])
