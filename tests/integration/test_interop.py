"""What real chargers do that the spec does not forbid: idToken types that change between
messages of one session, and retried CALLs with the same message id."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.app import create_app
from gateway.logs import configure_logging
from gateway.security.passwords import hash_password
from simulators import ChargePoint16, ChargePoint201
from tests.conftest import ORGANISATION, PASSWORDS, Harness, gateway_settings, run_cli

BADGE = "04A2B3C4D5E6F7"


async def badge_stored_as_local(gw: Harness) -> None:
    """A badge the operator registered as a ``Local`` idToken."""
    gateway, now = gw.gateway, datetime.now(UTC)
    org = await gateway.members.ensure_organisation(ORGANISATION, now)
    member = await gateway.members.add_member(org, now, first_name="Lea", email="lea@example.org")
    await gateway.members.add_token(BADGE, member, now, token_type="Local")
    await gateway.reload_cache()


async def session_sent_with_mixed_types(gw: Harness) -> tuple[str, str]:
    """Authorize with type ``Local``, then the TransactionEvent with ``ISO14443`` for the same
    value (what SAP's e-mobility charging-station simulator sends); the two statuses."""
    async with ChargePoint201("CP201", url=gw.url, password=PASSWORDS["CP201"]) as cp:
        await cp.boot()
        authorized = await cp.authorize(BADGE, token_type="Local")
        _, started = await cp.start_transaction(BADGE, token_type="ISO14443")
    return authorized["idTokenInfo"]["status"], started["idTokenInfo"]["status"]


async def test_by_default_a_badge_is_matched_by_value_whatever_type_the_charger_sends(
    gw: Harness,
) -> None:
    await badge_stored_as_local(gw)
    assert await session_sent_with_mixed_types(gw) == ("Accepted", "Accepted")
    async with ChargePoint201("CP201", url=gw.url, password=PASSWORDS["CP201"]) as cp:
        await cp.boot()
        transaction, _ = await cp.start_transaction(BADGE, token_type="Local")
        later = await cp.transaction_event(
            "Updated", transaction, 1, "Authorized", id_token=BADGE, token_type="KeyCode"
        )
        assert later["idTokenInfo"]["status"] == "Accepted", "re-checked by value: still on"
        await cp.end_transaction(transaction, 1000)


async def test_an_organisation_matching_strictly_refuses_the_other_type(gw: Harness) -> None:
    """Set with the CLI (``organisations set --token-type-match strict``), as an operator would."""
    await badge_stored_as_local(gw)
    code, out, err = await run_cli(
        gw.gateway.db.path, "organisations", "set", ORGANISATION, "--token-type-match", "strict"
    )
    assert code == 0, err
    assert '"token_type_match": "strict"' in out
    await gw.gateway.reload_cache()
    assert await session_sent_with_mixed_types(gw) == ("Accepted", "Unknown")


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
