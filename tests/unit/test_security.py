"""Password hashing, the verified-credentials cache, the failure throttle, handshake parsing."""

from __future__ import annotations

import base64
import secrets

from gateway.security.passwords import VerifiedCache, hash_password, verify_password
from gateway.security.throttle import FailureThrottle
from gateway.transport.handshake import basic_credentials, charge_point_identity


def test_password_hash_is_salted_and_verifies() -> None:
    first, second = hash_password("correct horse battery"), hash_password("correct horse battery")
    assert first != second and "correct" not in first
    assert verify_password(first, b"correct horse battery")
    assert not verify_password(first, b"wrong horse battery")
    assert not verify_password("garbage", b"x")


def test_a_16_authorization_key_verifies_raw_or_hex() -> None:
    key = secrets.token_bytes(20)
    stored = hash_password(key.hex())
    assert verify_password(stored, key)
    assert verify_password(stored, key.hex().encode())


def test_verified_cache_is_tied_to_the_stored_hash() -> None:
    cache = VerifiedCache()
    cache.remember("CP1", "hash-a", b"pw")
    assert cache.check("CP1", "hash-a", b"pw")
    assert not cache.check("CP1", "hash-a", b"other")
    assert not cache.check("CP1", "hash-b", b"pw"), "a rotated password must verify again"
    assert not cache.check("CP2", "hash-a", b"pw")


def test_throttle_opens_after_the_window() -> None:
    now = [0.0]
    throttle = FailureThrottle(limit=3, window=60, clock=lambda: now[0])
    for _ in range(2):
        throttle.record_failure("10.0.0.1")
    assert throttle.retry_after("10.0.0.1") is None
    throttle.record_failure("10.0.0.1")
    assert throttle.retry_after("10.0.0.1") == 60
    assert throttle.retry_after("10.0.0.2") is None
    now[0] = 61
    assert throttle.retry_after("10.0.0.1") is None


def test_checks_in_flight_hold_places_in_the_budget() -> None:
    """Begun checks count before they end: the limit bounds the checks running at once."""
    now = [0.0]
    throttle = FailureThrottle(limit=3, window=60, clock=lambda: now[0])
    assert [throttle.begin_check("10.0.0.1") for _ in range(5)] == [True] * 3 + [False] * 2
    assert throttle.retry_after("10.0.0.1") == 1.0, "full of checks in flight: try again soon"
    assert throttle.begin_check("10.0.0.2"), "another address has its own budget"
    throttle.end_check("10.0.0.1", failed=False)  # a good password gives its place back
    assert throttle.retry_after("10.0.0.1") is None
    throttle.end_check("10.0.0.1", failed=True)
    throttle.end_check("10.0.0.1", failed=True)
    assert throttle.begin_check("10.0.0.1")
    throttle.end_check("10.0.0.1", failed=True)
    assert throttle.retry_after("10.0.0.1") == 60, "three failures: the window decides"
    assert not throttle.begin_check("10.0.0.1")
    now[0] = 61
    assert throttle.begin_check("10.0.0.1")


def test_identity_is_the_last_path_segment_percent_decoded() -> None:
    assert charge_point_identity("/ocpp/CP-1") == "CP-1"
    assert charge_point_identity("/CP%2D1?x=1") == "CP-1"
    assert charge_point_identity("/") is None
    assert charge_point_identity("/" + "A" * 49) is None
    assert charge_point_identity("/CP%3A1") is None, "':' would break Basic auth"
    assert charge_point_identity("/CP 1") is None


def test_basic_credentials_keep_password_bytes() -> None:
    header = "Basic " + base64.b64encode(b"CP1:\x00\xffraw").decode()
    assert basic_credentials(header) == ("CP1", b"\x00\xffraw")
    assert basic_credentials("Bearer abc") is None
    assert basic_credentials("Basic !!!") is None
    assert basic_credentials(None) is None
