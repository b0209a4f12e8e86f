"""OCPP-J frame parsing: every hostile input becomes a problem, never another exception."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.rpc import frames
from gateway.rpc.errors import Problem, RpcError, error_code


def problem_of(data: str | bytes, *, is_text: bool = True) -> tuple[Problem, str]:
    with pytest.raises(RpcError) as caught:
        frames.parse(data, is_text=is_text)
    return caught.value.problem, caught.value.message_id


def test_a_call_is_parsed() -> None:
    call = frames.parse('[2,"abc","Heartbeat",{}]')
    assert call == frames.Call("abc", "Heartbeat", {})


def test_results_and_errors_are_parsed() -> None:
    assert frames.parse('[3,"a",{"x":1}]') == frames.CallResult("a", {"x": 1})
    assert frames.parse('[4,"a","NotSupported","no",{}]') == frames.CallError(
        "a", "NotSupported", "no", {}
    )


@pytest.mark.parametrize(
    ("data", "problem", "message_id"),
    [
        ("not json", Problem.FRAME, "-1"),
        ('{"a": 1}', Problem.FRAME, "-1"),
        ("[]", Problem.FRAME, "-1"),
        ("[" * 100_000 + "]" * 100_000, Problem.FRAME, "-1"),
        ('[2,"a","X",{"v":' + "9" * 5000 + "}]", Problem.FRAME, "-1"),
        ('[2,"a","X",{"v":' + "9" * 25 + "}]", Problem.FRAME, "-1"),
        ('[2,"a","X",{"v":NaN}]', Problem.FRAME, "-1"),
        ('[2,"a","X",{"v":1e999}]', Problem.FRAME, "-1"),
        ('[7,"a","X",{}]', Problem.MESSAGE_TYPE, "a"),
        ('["2","a","X",{}]', Problem.MESSAGE_TYPE, "a"),
        ('[2,5,"Heartbeat",{}]', Problem.FRAME, "-1"),
        ('[2,"' + "x" * 37 + '","Heartbeat",{}]', Problem.FRAME, "-1"),
        ('[2,"","Heartbeat",{}]', Problem.FRAME, "-1"),
        ('[2,"a","Heartbeat"]', Problem.FRAME, "a"),
        ('[2,"a",5,{}]', Problem.FRAME, "a"),
        ('[2,"a","Heartbeat",[]]', Problem.PAYLOAD_SYNTAX, "a"),
    ],
)
def test_bad_frames_become_problems(data: str, problem: Problem, message_id: str) -> None:
    assert problem_of(data) == (problem, message_id)


def test_invalid_utf8_and_binary_frames_are_problems() -> None:
    assert problem_of(b'[2,"a","Heartbeat",{"x":"\xff"}]') == (Problem.FRAME, "-1")
    assert problem_of(b'[2,"a","Heartbeat",{}]', is_text=False) == (Problem.FRAME, "-1")


def test_a_broken_reply_is_never_answered() -> None:
    with pytest.raises(frames.MalformedReply):
        frames.parse('[3,"a"]')
    with pytest.raises(frames.MalformedReply):
        frames.parse('[4,"a","x"]')


@given(st.text(max_size=200))
def test_any_text_parses_or_raises_rpc_error(text: str) -> None:
    try:
        frames.parse(text)
    except RpcError as exc:
        assert len(exc.description) <= 255


@given(st.binary(max_size=200), st.booleans())
def test_any_bytes_parse_or_raise_rpc_error(data: bytes, is_text: bool) -> None:
    try:
        frames.parse(data, is_text=is_text)
    except RpcError:
        pass


def test_error_codes_follow_each_versions_spelling() -> None:
    assert error_code(Problem.FRAME, "1.6") == "FormationViolation"
    assert error_code(Problem.FRAME, "2.0.1") == "RpcFrameworkError"
    assert error_code(Problem.PAYLOAD_SYNTAX, "2.0.1") == "FormatViolation"
    assert error_code(Problem.OCCURRENCE, "1.6") == "OccurenceConstraintViolation"
    assert error_code(Problem.OCCURRENCE, "2.0.1") == "OccurrenceConstraintViolation"
    assert error_code(Problem.MESSAGE_TYPE, "2.0.1") == "MessageTypeNotSupported"
    assert error_code(Problem.NOT_IMPLEMENTED, "1.6") == "NotImplemented"
    assert error_code(Problem.NOT_SUPPORTED, "2.0.1") == "NotSupported"


def test_descriptions_are_cut_to_255_characters() -> None:
    assert len(RpcError(Problem.INTERNAL, "x" * 1000).description) == 255
