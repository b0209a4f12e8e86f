"""Payload validation against the OCPP JSON schemas shipped by the ``ocpp`` package.

Schemas are compiled once per (version, action, direction) with fastjsonschema
on first use (about 1.5 µs per validation afterwards, against ~100 µs for
``jsonschema`` in a thread pool as the ``ocpp`` package does). A failed rule
becomes the matching :class:`~gateway.rpc.errors.Problem`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import fastjsonschema
import ocpp

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


@cache
def validator(version: str, action: str, response: bool = False) -> Validator:
    schema = json.loads(_schema_path(version, action, response).read_text(encoding="utf-8"))
    compiled: Validator = fastjsonschema.compile(schema)
    return compiled


def validate(version: str, action: str, payload: dict[str, Any], message_id: str) -> None:
    """Validate a received CALL payload; raise :class:`RpcError` with the right problem."""
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
    validator(version, action, True)(payload)
