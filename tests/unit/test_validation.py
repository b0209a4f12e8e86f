"""Schema validation maps each failed rule to its CALLERROR problem."""

from __future__ import annotations

import pytest

from gateway.rpc.errors import Problem, RpcError
from gateway.rpc.validation import known_actions, validate

START = {"connectorId": 1, "idTag": "AB", "meterStart": 0, "timestamp": "2026-01-01T00:00:00Z"}


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"connectorId": None}, Problem.OCCURRENCE),
        ({"connectorId": "one"}, Problem.TYPE),
        ({"idTag": "X" * 21}, Problem.PROPERTY),
        ({"timestamp": "yesterday"}, Problem.PROPERTY),
        ({"surprise": 1}, Problem.PAYLOAD_SYNTAX),
    ],
)
def test_rules_map_to_problems(change: dict[str, object], problem: Problem) -> None:
    payload = {**START, **change}
    payload = {k: v for k, v in payload.items() if v is not None}
    with pytest.raises(RpcError) as caught:
        validate("1.6", "StartTransaction", payload, "m1")
    assert caught.value.problem is problem
    assert caught.value.message_id == "m1"


def test_a_valid_payload_passes() -> None:
    validate("1.6", "StartTransaction", START, "m1")
    validate("2.0.1", "Heartbeat", {}, "m2")


def test_known_actions_cover_both_directions() -> None:
    assert {"Authorize", "RemoteStopTransaction", "StartTransaction"} <= known_actions("1.6")
    assert {"TransactionEvent", "RequestStopTransaction"} <= known_actions("2.0.1")
    assert "TransactionEvent" not in known_actions("1.6")
