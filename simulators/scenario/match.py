"""Does an answer contain what a scenario expects? A subset match, without I/O.

* an object matches when every expected key is present and matches
  (keys the answer has in addition are ignored);
* an array matches an array of the same length, element by element;
* a number, string, boolean or null matches an equal value of the same JSON
  type (``1`` matches ``1.0``; ``true`` does not match ``1``);
* three operators, written as an object with one key, widen a value:
  ``{"$present": false}`` (the key must be absent; ``true``: present, any
  value), ``{"$regex": "^2026-"}`` (a string that the pattern matches from
  its start), ``{"$in": ["Blocked", "Invalid"]}`` (one of these values).

:func:`mismatches` returns one line per difference, with the path to it.
"""

from __future__ import annotations

import re
from typing import Any

OPERATORS = frozenset({"$present", "$regex", "$in"})
_MISSING = object()


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def is_operator(expected: Any) -> bool:
    return isinstance(expected, dict) and len(expected) == 1 and next(iter(expected)) in OPERATORS


def check_operators(expected: Any, where: str = "expect") -> None:
    """Raise ValueError when an operator in ``expected`` is malformed (at parse time)."""
    if isinstance(expected, dict):
        for key, value in expected.items():
            if key.startswith("$") and not (len(expected) == 1 and key in OPERATORS):
                known = ", ".join(sorted(OPERATORS))
                raise ValueError(f"{where}: unknown operator {key!r} (known: {known})")
            if key == "$present" and not isinstance(value, bool):
                raise ValueError(f"{where}: $present takes true or false")
            if key == "$regex":
                if not isinstance(value, str):
                    raise ValueError(f"{where}: $regex takes a string")
                try:
                    re.compile(value)
                except re.error as exc:
                    raise ValueError(f"{where}: bad $regex: {exc}") from None
            if key == "$in" and not isinstance(value, list):
                raise ValueError(f"{where}: $in takes an array")
            if not key.startswith("$"):
                check_operators(value, f"{where}.{key}")
    elif isinstance(expected, list):
        for i, item in enumerate(expected):
            check_operators(item, f"{where}[{i}]")


def _show(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else f'"{value}"'
    return text if len(text) <= 80 else text[:77] + "..."


def mismatches(expected: Any, actual: Any, path: str = "") -> list[str]:
    """Every way ``actual`` fails to contain ``expected``; empty when it matches."""
    where = path or "answer"
    if is_operator(expected):
        op, arg = next(iter(expected.items()))
        if op == "$present":
            present = actual is not _MISSING
            return [] if present == arg else [f"{where}: expected {'present' if arg else 'absent'}"]
        if actual is _MISSING:
            return [f"{where}: missing"]
        if op == "$regex":
            if isinstance(actual, str) and re.match(arg, actual):
                return []
            return [f"{where}: expected a string matching {arg!r}, got {_show(actual)}"]
        if any(not mismatches(option, actual, path) for option in arg):
            return []
        return [f"{where}: expected one of {_show(arg)}, got {_show(actual)}"]
    if actual is _MISSING:
        return [f"{where}: missing (expected {_show(expected)})"]
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{where}: expected an object, got {_show(actual)}"]
        problems: list[str] = []
        for key, value in expected.items():
            child = f"{path}.{key}" if path else key
            problems.extend(mismatches(value, actual.get(key, _MISSING), child))
        return problems
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return [f"{where}: expected an array, got {_show(actual)}"]
        if len(actual) != len(expected):
            return [f"{where}: expected {len(expected)} items, got {len(actual)}"]
        problems = []
        for i, (want, got) in enumerate(zip(expected, actual, strict=True)):
            problems.extend(mismatches(want, got, f"{path}[{i}]"))
        return problems
    if _kind(expected) != _kind(actual) or expected != actual:
        return [f"{where}: expected {_show(expected)}, got {_show(actual)}"]
    return []
