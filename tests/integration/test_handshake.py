"""Who gets in: refusals happen before the WebSocket upgrade, with the right HTTP status."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from gateway.security.passwords import hash_password
from simulators import ChargePoint16, ChargePoint201
from tests.conftest import PASSWORDS, Harness, StartGateway


async def refused_status(sim: ChargePoint16 | ChargePoint201) -> int:
    with pytest.raises(InvalidStatus) as caught:
        await sim.connect()
    return caught.value.response.status_code


async def test_known_charger_with_right_password_connects(gw: Harness) -> None:
    async with ChargePoint16("CP16", url=gw.url, password=PASSWORDS["CP16"]) as cp:
        assert cp.subprotocol == "ocpp1.6"
        assert (await cp.boot())["status"] == "Accepted"


@pytest.mark.parametrize("path", ["/" + "A" * 49, "/CP%3A16", "/", "/CP%2016"])
async def test_malformed_identity_is_400(gw: Harness, path: str) -> None:
    with pytest.raises(InvalidStatus) as caught:
        async with connect(gw.url + path, subprotocols=["ocpp1.6"]):  # type: ignore[list-item]
            pass
    assert caught.value.response.status_code == 400


async def test_unknown_charger_is_404(gw: Harness) -> None:
    assert (
        await refused_status(ChargePoint16("NOPE", url=gw.url, password="whatever-password")) == 404
    )


async def test_missing_or_wrong_credentials_are_401(gw: Harness) -> None:
    assert await refused_status(ChargePoint16("CP16", url=gw.url, password=None)) == 401
    assert (
        await refused_status(ChargePoint16("CP16", url=gw.url, password="wrong-password!!")) == 401
    )
    wrong_user = ChargePoint16("CP16", url=gw.url, password=PASSWORDS["CP16"], username="CP201")
    assert await refused_status(wrong_user) == 401


async def test_repeated_failures_are_throttled_but_known_chargers_still_get_in(
    start_gateway: StartGateway,
) -> None:
    gw = await start_gateway(auth_failure_limit=3, auth_failure_window=60)
    async with ChargePoint16("CP16", url=gw.url, password=PASSWORDS["CP16"]):
        pass  # verified once: remembered
    for _ in range(3):
        assert (
            await refused_status(ChargePoint16("CP16", url=gw.url, password="guess-guess-guess"))
            == 401
        )
    assert (
        await refused_status(ChargePoint16("CP16", url=gw.url, password="guess-guess-guess")) == 429
    )
    assert (
        await refused_status(ChargePoint16("NOPE", url=gw.url, password="guess-guess-guess")) == 429
    )
    async with ChargePoint16("CP16", url=gw.url, password=PASSWORDS["CP16"]) as cp:
        assert (await cp.boot())["status"] == "Accepted"
    metrics = gw.gateway.metrics.render().decode()
    assert 'ocpp_gateway_connections_refused_total{cause="throttled"} 2.0' in metrics


async def password_checks(gw: Harness) -> dict[str, float]:
    """``ocpp_gateway_password_checks_total`` by outcome, read from ``/metrics``."""
    async with httpx.AsyncClient(base_url=gw.http) as http:
        text = (await http.get("/metrics")).text
    return {
        sample.labels["outcome"]: sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "ocpp_gateway_password_checks"
        for sample in family.samples
        if sample.name.endswith("_total")
    }


async def test_concurrent_wrong_passwords_cause_at_most_the_budget_of_password_checks(
    start_gateway: StartGateway,
) -> None:
    """200 wrong passwords at once from one address: 20 checks (the limit), 180 get 429.

    The station's hash is slow enough (scrypt n=2**13) that all 200 arrive while
    the first checks run, which is when counting only finished checks let ~150
    through. Meanwhile a charger from another address (127.0.0.2) gets in.
    """
    gw = await start_gateway(auth_failure_limit=20, auth_failure_window=60)
    now = datetime.now(UTC)
    for cpid in ("SLOW", "ELSEWHERE"):
        slow_hash = hash_password(f"password-of-{cpid}", n=2**13)
        await gw.gateway.stations.add(cpid, slow_hash, now, organisation_id=1)
    guesses = [
        ChargePoint16("SLOW", url=gw.url, password=f"guess-number-{i:03d}") for i in range(200)
    ]
    other = ChargePoint16(
        "ELSEWHERE",
        url=gw.url,
        password="password-of-ELSEWHERE",
        connect_options={"local_addr": ("127.0.0.2", 0)},
    )
    *statuses, other_status = await asyncio.gather(
        *(sim.handshake_status() for sim in guesses), other.handshake_status()
    )
    assert sorted(set(statuses)) == [401, 429]
    assert statuses.count(401) == 20
    assert statuses.count(429) == 180
    assert other_status == 101, "another address is not throttled by this one"
    assert await password_checks(gw) == {"mismatch": 20.0, "match": 1.0}


async def test_a_16_authorization_key_may_be_sent_as_raw_bytes(gw: Harness) -> None:
    key = secrets.token_bytes(20)
    await gw.gateway.stations.add(
        "RAWKEY", hash_password(key.hex(), n=2**10), datetime.now(UTC), organisation_id=1
    )
    async with ChargePoint16("RAWKEY", url=gw.url, password=key) as cp:
        assert (await cp.boot())["status"] == "Accepted"
    async with ChargePoint16("RAWKEY", url=gw.url, password=key.hex()) as cp:
        assert (await cp.boot())["status"] == "Accepted"


async def test_the_chargers_preference_order_is_honoured(gw: Harness) -> None:
    prefers_201 = ChargePoint201(
        "CP201", url=gw.url, password=PASSWORDS["CP201"], subprotocols=["ocpp2.0.1", "ocpp1.6"]
    )
    async with prefers_201 as cp:
        assert cp.subprotocol == "ocpp2.0.1"
    prefers_16 = ChargePoint16(
        "CP16", url=gw.url, password=PASSWORDS["CP16"], subprotocols=["ocpp1.6", "ocpp2.0.1"]
    )
    async with prefers_16 as cp:
        assert cp.subprotocol == "ocpp1.6"


@pytest.mark.parametrize("offered", [["ocpp1.5"], []])
async def test_no_common_subprotocol_completes_then_closes_1002(
    gw: Harness, offered: list[str]
) -> None:
    cp = ChargePoint16("CP16", url=gw.url, password=PASSWORDS["CP16"], subprotocols=offered)
    await cp.connect()
    try:
        assert cp.subprotocol is None, "no Sec-WebSocket-Protocol in the answer"
        await cp.wait_closed(5)
        assert cp.close_code == 1002
    finally:
        await cp.close()


async def test_a_second_connection_replaces_the_first(gw: Harness) -> None:
    first = ChargePoint16("CP16", url=gw.url, password=PASSWORDS["CP16"])
    await first.connect()
    await first.boot()
    async with ChargePoint16("CP16", url=gw.url, password=PASSWORDS["CP16"]) as second:
        await first.wait_closed(5)
        assert first.close_code == 1008
        assert (await second.heartbeat())["currentTime"]
    await first.close()
    metrics = gw.gateway.metrics.render().decode()
    assert 'ocpp_gateway_security_events_total{kind="duplicate_connection"} 1.0' in metrics


async def test_an_unauthenticated_attempt_does_not_displace_a_connected_charger(
    gw: Harness,
) -> None:
    async with ChargePoint16("CP16", url=gw.url, password=PASSWORDS["CP16"]) as cp:
        await cp.boot()
        assert (
            await refused_status(ChargePoint16("CP16", url=gw.url, password="not-the-password"))
            == 401
        )
        assert (await cp.heartbeat())["currentTime"]


async def test_half_open_connections_are_found_by_server_pings(start_gateway: StartGateway) -> None:
    gw = await start_gateway(ping_interval=0.2, ping_timeout=0.2, close_timeout=0.2)
    import base64

    auth = base64.b64encode(b"CP16:" + PASSWORDS["CP16"].encode()).decode()
    ws = await connect(
        gw.url + "/CP16",
        subprotocols=["ocpp1.6"],  # type: ignore[list-item]
        additional_headers={"Authorization": "Basic " + auth},
        ping_interval=None,
    )
    ws.transport.pause_reading()  # a charger that stopped answering: pongs never come
    for _ in range(50):
        if not gw.gateway.connections:
            break
        await asyncio.sleep(0.1)
    assert not gw.gateway.connections
    ws.transport.abort()
    with pytest.raises(ConnectionClosed):
        await ws.recv()
