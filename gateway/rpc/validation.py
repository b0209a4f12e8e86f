"""Payload validation against the OCPP JSON schemas shipped by the ``ocpp`` package.

Each schema is compiled once per (version, action, direction), on first use,
twice:

* by ``jsonschema-rs`` (Rust), which only answers "valid or not": 0.2-0.7 µs
  for an Authorize or a MeterValues, where the fastjsonschema code takes
  0.7-4.3 µs (and ``jsonschema`` in a thread pool, as the ``ocpp`` package
  does, ~100 µs). Valid payloads, nearly all of them, stop there;
* by fastjsonschema, the reference: a payload jsonschema-rs refuses is
  checked again by it, and a failed rule becomes the matching
  :class:`~gateway.rpc.errors.Problem` and message. Should it accept what
  jsonschema-rs refused, the payload is valid: NaN or infinite numbers (not
  numbers to jsonschema-rs; the frame parser refuses them in received
  payloads, so this concerns the gateway's own answers). Strings with a lone
  surrogate such as ``"\ud800"`` (valid JSON escapes, but no Unicode text,
  which the two checks read differently) never get here: the frame parser
  refuses them as a syntax error, in a key or in a value.

So jsonschema-rs must never accept what fastjsonschema refuses: formats
(``date-time``, ``uri``, the only ones in the OCPP schemas) are checked by
both with fastjsonschema's own expressions, and a property test compares the
two on generated payloads for every schema (``tests/unit/test_validation_fast_path.py``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import fastjsonschema
import jsonschema_rs
import ocpp
from fastjsonschema.draft04 import CodeGeneratorDraft04

from gateway.rpc.errors import Problem, RpcError

_SCHEMA_ROOT = Path(ocpp.__file__).parent
_DIRS = {"1.6": "v16", "2.0.1": "v201"}

_RULE_PROBLEMS = {
    "required": Problem.OCCURRENCE,
    "minItems": Problem.OCCURRENCE,
    "maxItems": Problem.OCCURRENCE,
    "type": Problem.TYPE,
    "additionalProperties": Problem.PAYLOAD_SYNTAX,
}

Validator = Callable[[dict[str, Any]], Any]


def _schema_path(version: str, action: str, response: bool) -> Path:
    folder = _SCHEMA_ROOT / _DIRS[version] / "schemas"
    if version == "1.6":
        return folder / (f"{action}Response.json" if response else f"{action}.json")
    return folder / (f"{action}Response.json" if response else f"{action}Request.json")


@cache
def known_actions(version: str) -> frozenset[str]:
    """Every action the version defines (either direction), from its schema files."""
    folder = _SCHEMA_ROOT / _DIRS[version] / "schemas"
    suffix = ".json" if version == "1.6" else "Request.json"
    names = {p.name[: -len(suffix)] for p in folder.glob("*" + suffix)}
    return frozenset(n for n in names if not n.endswith("Response"))


def _format(name: str) -> Callable[[str], bool]:
    """fastjsonschema's check of a string format (the same expression in drafts 4 and 6)."""
    match = re.compile(CodeGeneratorDraft04.FORMAT_REGEXS[name]).match
    return lambda value: match(value) is not None


_FORMATS = {name: _format(name) for name in ("date-time", "uri")}


@cache
def _schema(version: str, action: str, response: bool) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(
        _schema_path(version, action, response).read_text(encoding="utf-8")
    )
    return schema


@cache
def validator(version: str, action: str, response: bool = False) -> Validator:
    """The reference check (fastjsonschema): raises on the first failed rule."""
    compiled: Validator = fastjsonschema.compile(_schema(version, action, response))
    return compiled


@cache
def accepts(version: str, action: str, response: bool = False) -> Callable[[Any], bool]:
    """The fast check (jsonschema-rs): True for a valid payload, False to look closer."""
    compiled = jsonschema_rs.validator_for(
        _schema(version, action, response), formats=_FORMATS, validate_formats=True
    )
    is_valid: Callable[[Any], bool] = compiled.is_valid
    return is_valid


def _fast_ok(version: str, action: str, response: bool, payload: dict[str, Any]) -> bool:
    try:
        return accepts(version, action, response)(payload)
    except Exception:  # e.g. a lone surrogate in one of the gateway's own answers, which
        return False  # Rust's strings cannot hold (UnicodeEncodeError): the reference decides


def validate(version: str, action: str, payload: dict[str, Any], message_id: str) -> None:
    """Validate a received CALL payload; raise :class:`RpcError` with the right problem."""
    if _fast_ok(version, action, False, payload):
        return
    try:
        validator(version, action)(payload)
    except fastjsonschema.JsonSchemaValueException as exc:
        problem = _RULE_PROBLEMS.get(exc.rule or "", Problem.PROPERTY)
        raise RpcError(
            problem,
            f"{action}: {exc.message}",
            message_id=message_id,
            details={"field": exc.name, "rule": exc.rule},
        ) from None


def validate_response(version: str, action: str, payload: dict[str, Any]) -> None:
    """Check an answer the gateway is about to send (raises on a gateway bug)."""
    if not _fast_ok(version, action, True, payload):
        validator(version, action, True)(payload)
