"""The simulator's pure parts: URL, Basic credentials, timestamps, frame reading."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone

import pytest

from simulators import frames
from simulators.errors import CallError, ProtocolError
from simulators.handshake import basic_authorization, station_url
from simulators.timestamps import ocpp_datetime


@pytest.mark.parametrize(
    ("base", "identity", "expected"),
    [
        ("ws://127.0.0.1:9000", "CP-1", "ws://127.0.0.1:9000/CP-1"),
        ("ws://127.0.0.1:9000/", "CP-1", "ws://127.0.0.1:9000/CP-1"),
        ("wss://gw.example/ocpp/", "CP-1", "wss://gw.example/ocpp/CP-1"),
        ("ws://h/ocpp", "CP 1/é", "ws://h/ocpp/CP%201%2F%C3%A9"),
        ("ws://h", "a*b=c+d|e@f", "ws://h/a%2Ab%3Dc%2Bd%7Ce%40f"),
    ],
)
def test_identity_is_the_last_path_segment_percent_encoded(
    base: str, identity: str, expected: str
) -> None:
    assert station_url(base, identity) == expected


def _decoded(header: str) -> bytes:
    scheme, _, token = header.partition(" ")
    assert scheme == "Basic"
    return base64.b64decode(token, validate=True)


def test_basic_credentials_from_a_text_password_are_utf8() -> None:
    assert _decoded(basic_authorization("CP-1", "sécret")) == "CP-1:sécret".encode()


def test_basic_credentials_keep_raw_byte_passwords_byte_for_byte() -> None:
    key = bytes(range(256))
    assert _decoded(basic_authorization("CP-1", key)) == b"CP-1:" + key


def test_timestamps_are_utc_with_z_and_milliseconds() -> None:
    paris = timezone(timedelta(hours=2))
    assert ocpp_datetime(datetime(2024, 5, 1, 14, 0, 0, 123456, paris)) == (
        "2024-05-01T12:00:00.123Z"
    )
    now = ocpp_datetime()
    assert now.endswith("Z")
    assert abs(datetime.fromisoformat(now) - datetime.now(UTC)) < timedelta(minutes=1)


def test_timestamp_strings_pass_through_and_naive_datetimes_are_refused() -> None:
    assert ocpp_datetime("not a date") == "not a date"
    with pytest.raises(ValueError, match="naive"):
        ocpp_datetime(datetime(2024, 5, 1))


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ('[3,"a",{}]', [3, "a", {}]),
        ('{"not": "an array"}', '{"not": "an array"}'),
        ("not json", "not json"),
        ("[" * 100_000, "[" * 100_000),
        (b'[3,"a",{}]', b'[3,"a",{}]'),
    ],
)
def test_received_messages_are_arrays_when_they_are_else_raw(
    data: str | bytes, expected: object
) -> None:
    assert frames.decode(data) == expected


def test_only_well_formed_calls_are_calls() -> None:
    assert frames.as_call([2, "m", "Reset", {"type": "Soft"}]) == ("m", "Reset", {"type": "Soft"})
    assert frames.as_call([2, "m", "Reset"]) is None
    assert frames.as_call([2, "m", "Reset", []]) is None
    assert frames.as_call([2.0, "m", "Reset", {}]) is None
    assert frames.as_call('[2,"m","Reset",{}]') is None


def test_call_result_yields_its_payload_and_call_error_raises() -> None:
    assert frames.result_of([3, "m", {"status": "Accepted"}]) == {"status": "Accepted"}
    with pytest.raises(CallError) as caught:
        frames.result_of([4, "m", "SecurityError", "no", {"k": 1}])
    assert (caught.value.message_id, caught.value.code) == ("m", "SecurityError")
    assert (caught.value.description, caught.value.details) == ("no", {"k": 1})
    with pytest.raises(ProtocolError):
        frames.result_of([3, "m"])
    with pytest.raises(ProtocolError):
        frames.result_of([4, "m", "GenericError"])
