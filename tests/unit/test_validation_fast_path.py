"""jsonschema-rs (the fast check) never accepts what fastjsonschema (the reference) refuses.

For every OCPP schema, both directions, both versions, hypothesis draws payloads
shaped by the schema and perturbed: wrong types, integers as floats and
booleans, strings around their length limits, dates that are almost dates,
missing and extra keys, arrays off their bounds, lone surrogates. Each payload
travels as a charger's frame would: JSON text read by the frame parser, which
refuses a lone UTF-16 surrogate escape (``"\\ud800"``, in a key or a value) as
a syntax error, so neither check ever sees one. On what the parser lets
through, the two checks must agree.
"""

from __future__ import annotations

import json
import math
from typing import Any

import fastjsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.rpc import frames
from gateway.rpc.errors import Problem, RpcError
from gateway.rpc.validation import (
    _fast_ok,
    _schema,
    accepts,
    known_actions,
    validate,
    validator,
)

JUNK = st.sampled_from([None, "", "x", 0, -1, 1.5, True, False, [], {}, {"a": 1}, [1]])
DATES = st.sampled_from(
    [
        "2026-11-23T16:00:00Z",
        "2026-11-23T16:00:00.123Z",
        "2026-11-23T16:00:00+01:00",
        "2026-11-23T16:00:00+0100",
        "2026-11-23t16:00:00z",
        "2024-02-29T00:00:00Z",
        "2026-12-31T23:59:60Z",
    ]
)
ODD_DATES = st.sampled_from(
    [
        "2026-11-23T16:00:00",
        "2026-11-23 16:00:00Z",
        "2026-02-29T00:00:00Z",
        "2026-13-01T00:00:00Z",
        "2026-11-23T24:00:00Z",
        "2026-11-23",
        "16:00:00Z",
        "2026-11-23T16:00:00Z\n",
        "2026-11-23T16:00:00Z ",
    ]
)
SURROGATES = st.text(st.characters(categories=["Cs", "Ll"]), min_size=1, max_size=4)
"""Lone surrogates: valid JSON escapes (``"\\ud800"``) but no Unicode text."""
URIS = st.sampled_from(["wss://example.com/ocpp", "http://x", "x", "ftp:/a b", "urn:isbn:1", ""])


def _resolve(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        path = node["$ref"].removeprefix("#/").split("/")
        target: Any = root
        for part in path:
            target = target[part]
        node = target
    return node


def _values(node: dict[str, Any], root: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Any]:
    """Mostly values the schema allows, and one time in eight something it may not."""
    node = _resolve(node, root)
    if depth > 12:
        return JUNK
    good: list[st.SearchStrategy[Any]] = []
    bad: list[st.SearchStrategy[Any]] = [JUNK]
    if "enum" in node:
        good.append(st.sampled_from(node["enum"]))
        bad.append(
            st.sampled_from(node["enum"]).map(lambda v: v.lower() if isinstance(v, str) else v)
        )
    kind = node.get("type")
    if kind == "object" or "properties" in node:
        good.append(_objects(node, root, depth))
    if kind == "array":
        items = _values(node.get("items", {}), root, depth + 1)
        low = node.get("minItems", 0)
        high = min(node.get("maxItems", low + 3), low + 3)
        good.append(st.lists(items, min_size=low, max_size=high))
        bad.append(st.lists(items, min_size=max(0, low - 1), max_size=high + 1))
    if kind == "string" and "enum" not in node:
        limit = node.get("maxLength", 40)
        good.append(st.text(max_size=min(limit, 60)))
        bad.append(SURROGATES)
        bad.append(  # at the length limit, in characters of 1 to 4 UTF-8 bytes
            st.tuples(st.sampled_from("aé€😀"), st.sampled_from([limit - 1, limit, limit + 1])).map(
                lambda pair: pair[0] * max(pair[1], 0)
            )
        )
        if node.get("format") == "date-time":
            good = [DATES]
            bad += [ODD_DATES, st.text(max_size=30), SURROGATES]
        if node.get("format") == "uri":
            good = [URIS]
    if kind == "integer":
        low, high = node.get("minimum", -(2**40)), node.get("maximum", 2**40)
        good.append(st.integers(min_value=low, max_value=high))
        ints = st.integers(min_value=low - 2, max_value=high + 2)
        bad += [ints, ints.map(float), st.booleans()]
    if kind == "number":
        low, high = node.get("minimum", -1e12), node.get("maximum", 1e12)
        good.append(st.floats(min_value=low, max_value=high, allow_nan=False))
        good.append(st.integers(min_value=int(low), max_value=int(high)))
        bad += [st.floats(min_value=low - 2, max_value=high + 2, allow_nan=False), st.booleans()]
    if kind == "boolean":
        good.append(st.booleans())
        bad.append(st.sampled_from([0, 1]))
    if not good:
        return st.one_of(bad)
    return st.integers(0, 7).flatmap(lambda k: st.one_of(bad) if k == 5 else st.one_of(good))


def _objects(node: dict[str, Any], root: dict[str, Any], depth: int) -> st.SearchStrategy[Any]:
    properties = node.get("properties", {})
    required = [k for k in node.get("required", []) if k in properties]
    optional = [k for k in properties if k not in required]

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        keys = list(required)
        if keys and draw(st.integers(0, 19)) == 13:
            keys.remove(draw(st.sampled_from(keys)))  # a required key missing, now and then
        if optional:
            keys += draw(st.lists(st.sampled_from(optional), unique=True, max_size=len(optional)))
        out = {k: draw(_values(properties[k], root, depth + 1)) for k in keys}
        if draw(st.integers(0, 19)) == 13:
            out[draw(st.sampled_from(["extra", "customData", "vendorId", "\ud800"]))] = 1
        return out

    return build()


SCHEMAS = [
    (version, action, response)
    for version in ("1.6", "2.0.1")
    for action in sorted(known_actions(version))
    for response in (False, True)
]


def _reference_accepts(version: str, action: str, response: bool, payload: Any) -> bool:
    try:
        validator(version, action, response)(payload)
    except fastjsonschema.JsonSchemaValueException:
        return False
    return True


@pytest.mark.parametrize(("version", "action", "response"), SCHEMAS)
def test_the_fast_check_agrees_with_the_reference(
    version: str, action: str, response: bool
) -> None:
    root = _schema(version, action, response)

    @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
    @given(_objects(root, root, 0))
    def agree(drawn: dict[str, Any]) -> None:
        try:
            call = frames.parse(json.dumps([2, "m1", action, drawn]))
        except RpcError as exc:  # what no charger can send as Unicode text
            assert _holds_a_lone_surrogate(drawn), (drawn, exc)
            assert exc.problem is Problem.PAYLOAD_SYNTAX and exc.message_id == "m1"
            return
        assert isinstance(call, frames.Call)
        payload = call.payload
        fast = _fast_ok(version, action, response, payload)
        reference = _reference_accepts(version, action, response, payload)
        assert fast == reference, (payload, fast, reference)

    agree()


def _holds_a_lone_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        return any(0xD800 <= ord(c) <= 0xDFFF for c in value)
    if isinstance(value, dict):
        return any(
            _holds_a_lone_surrogate(k) or _holds_a_lone_surrogate(v) for k, v in value.items()
        )
    if isinstance(value, list):
        return any(_holds_a_lone_surrogate(v) for v in value)
    return False


@pytest.mark.parametrize(
    "payload",
    [
        {"idTag": "a", "\ud800": 1},  # an unexpected key
        {"customData": {"vendorId": "", "\ud800": 1}},  # a key where any key is allowed
        {"idTag": "a\udfff"},  # a string value
        {"idTag": "\udc00\ud800"},  # a pair in the wrong order
    ],
)
def test_a_lone_surrogate_is_a_syntax_error_before_any_schema(payload: dict[str, Any]) -> None:
    text = json.dumps([2, "m1", "Authorize", payload])
    assert "\\u" in text
    with pytest.raises(RpcError) as raised:
        frames.parse(text)
    assert raised.value.problem is Problem.PAYLOAD_SYNTAX
    assert raised.value.message_id == "m1"
    assert "surrogate" in str(raised.value)


def test_escaped_text_that_is_unicode_is_read_as_such() -> None:
    text = '[2,"m1","Authorize",{"idTag":"\\ud83d\\ude00\\u00e9"}]'  # a valid pair, an é
    call = frames.parse(text)
    assert isinstance(call, frames.Call)
    assert call.payload == {"idTag": "\U0001f600\u00e9"}
    validate("1.6", "Authorize", call.payload, "m1")


def test_a_lone_surrogate_outside_the_payload_is_not_echoed_back() -> None:
    with pytest.raises(RpcError) as raised:
        frames.parse('[2,"\\ud800","Authorize",{}]')
    assert raised.value.problem is Problem.FRAME and raised.value.message_id == "-1"
    with pytest.raises(frames.MalformedReply):
        frames.parse('[3,"m7",{"status":"\\ud800"}]')


def test_nan_and_infinity_are_left_to_the_reference() -> None:
    payload = {
        "connectorId": 1,
        "transactionId": 1,
        "meterValue": [
            {
                "timestamp": "2026-11-23T16:00:00Z",
                "sampledValue": [{"value": "1"}],
            }
        ],
    }
    assert accepts("1.6", "MeterValues")(payload)
    datatransfer = {"vendorId": "v", "data": "d"}
    assert accepts("1.6", "DataTransfer")(datatransfer)
    # A number field: TransactionEvent's meter values carry numbers in 2.0.1.
    event: dict[str, Any] = {
        "eventType": "Updated",
        "timestamp": "2026-11-23T16:00:00Z",
        "triggerReason": "MeterValuePeriodic",
        "seqNo": 1,
        "transactionInfo": {"transactionId": "t1"},
        "meterValue": [
            {"timestamp": "2026-11-23T16:00:00Z", "sampledValue": [{"value": math.nan}]}
        ],
    }
    assert not accepts("2.0.1", "TransactionEvent")(event)
    validate("2.0.1", "TransactionEvent", event, "m1")  # the reference accepts: no error
    event["meterValue"][0]["sampledValue"][0]["value"] = "many"
    with pytest.raises(RpcError):
        validate("2.0.1", "TransactionEvent", event, "m1")
