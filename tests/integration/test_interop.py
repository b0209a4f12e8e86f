"""What real chargers do that the spec does not forbid: retried CALLs with the same message id."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.app import create_app
from gateway.logs import configure_logging
from gateway.security.passwords import hash_password
from simulators import ChargePoint16, ChargePoint201
from tests.conftest import ORGANISATION, PASSWORDS, Harness, gateway_settings


class TickingClock:
    """Moves 1 ms each time it is read, from 10:00:00.100 (a retry lands in the same second)."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 24, 10, 0, 0, 100_000, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now


@pytest.fixture
async def ticking_gw(tmp_path: Path) -> AsyncIterator[Harness]:
    configure_logging("json", "warning")
    gateway = create_app(gateway_settings(tmp_path), clock=TickingClock())
    await gateway.start()
    now = datetime.now(UTC)
    org = await gateway.members.ensure_organisation(ORGANISATION, now)
    for cpid in ("CP16", "CP201"):
        password = hash_password(PASSWORDS[cpid], n=2**10)
        await gateway.stations.add(cpid, password, now, organisation_id=org)
    harness = Harness(gateway, f"ws://127.0.0.1:{gateway.ocpp_port}", "")
    await harness.add_token("TAG-OK")
    yield harness
    await gateway.stop()


async def test_a_retried_authorize_gets_the_same_answer_to_the_byte(ticking_gw: Harness) -> None:
    """The same message id again a few ms later (1.6 and 2.0.1): identical answers, the
    expiry in whole seconds (before: they differed by 1 ms)."""
    gw = ticking_gw
    async with ChargePoint16("CP16", url=gw.url, password=PASSWORDS["CP16"]) as cp:
        await cp.boot()
        question = {"idTag": "TAG-OK"}
        first = await cp.call("Authorize", question, message_id="auth-1")
        again = await cp.call("Authorize", question, message_id="auth-1")
    assert first == again
    assert first["idTagInfo"]["status"] == "Accepted"
    assert first["idTagInfo"]["expiryDate"] == "2026-11-25T10:00:00.000Z"
    async with ChargePoint201("CP201", url=gw.url, password=PASSWORDS["CP201"]) as cp:
        await cp.boot()
        token = {"idToken": {"idToken": "TAG-OK", "type": "ISO14443"}}
        first = await cp.call("Authorize", token, message_id="auth-1")
        again = await cp.call("Authorize", token, message_id="auth-1")
    assert first == again
    assert first["idTokenInfo"]["cacheExpiryDateTime"] == "2026-11-25T10:00:00.000Z"
