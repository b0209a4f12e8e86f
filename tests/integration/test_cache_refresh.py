"""In-process changes reach the cache through `Gateway.refresh_cache` at once, patched
member by member; the poller rebuilds only for changes made by other processes.

A change "made in this process" goes through the gateway's own database
writer (as the admin API's do); one made by another process (the CLI, a
``sqlite3`` shell) through a connection of its own.
"""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

import aiosqlite

from gateway.policy_cache.loader import load
from gateway.policy_engine import AuthRequest, decide
from simulators import ChargePoint16, ChargePoint201
from tests.conftest import PASSWORDS, Harness

POLL = 1.0  # gateway.app.CACHE_POLL_SECONDS
LIFETIME = timedelta(days=1)


async def write(gw: Harness, sql: str, *params: Any) -> None:
    """A change made in this process: through the gateway's writer, as the admin API does."""

    async def op(db: aiosqlite.Connection) -> None:
        await db.execute(sql, params)

    await gw.gateway.db.write(op)


def write_elsewhere(gw: Harness, sql: str, *params: Any) -> None:
    """A change made by another process: its own connection, as the CLI has."""
    with sqlite3.connect(gw.gateway.settings.database.path) as db:
        db.execute(sql, params)
    db.close()


async def polled(gw: Harness) -> None:
    """Wait until the poller has seen the database's current generation (at most 5 s)."""
    for _ in range(50):
        generation = await gw.gateway.members.cache_generation()
        if gw.gateway.cache_updater.generation == generation:
            await asyncio.sleep(POLL * 1.5)  # and had a chance to act on it once more
            return
        await asyncio.sleep(POLL / 10)
    raise AssertionError("the poller never caught up")


async def test_a_member_deactivated_in_process_is_refused_at_the_next_authorize_unrebuilt(
    gw: Harness,
) -> None:
    """Directly in the database through the gateway's writer, then `refresh_cache({id})`:
    the very next Authorize on every connection is refused, and the poller, seeing the
    generation moved by this process, does not rebuild."""
    cache = gw.gateway.cache
    async with (
        ChargePoint16("CP16", url=gw.url, password=PASSWORDS["CP16"]) as cp,
        ChargePoint201("CP201", url=gw.url, password=PASSWORDS["CP201"]) as cs,
    ):
        await cp.boot()
        await cs.boot()
        assert (await cp.authorize("TAG-OK"))["idTagInfo"]["status"] == "Accepted"
        builds, patches = cache.builds, cache.patches
        member = gw.members["TAG-OK"]
        await write(gw, "UPDATE members SET status = 'Inactive' WHERE id = ?", member)
        await gw.gateway.refresh_cache({member})
        assert (await cp.authorize("TAG-OK"))["idTagInfo"]["status"] == "Blocked"
        assert (await cs.authorize("TAG-OK"))["idTokenInfo"]["status"] == "Blocked"
        assert (cache.builds, cache.patches) == (builds, patches + 1)
        await polled(gw)
        assert (cache.builds, cache.patches) == (builds, patches + 1), "the poller rebuilt"
        assert (await cs.authorize("TAG-OK"))["idTokenInfo"]["status"] == "Blocked"


async def test_a_change_by_another_process_is_rebuilt_by_the_poller(gw: Harness) -> None:
    """The control: the same change through another connection, with no refresh."""
    builds = gw.gateway.cache.builds
    member = gw.members["TAG-OK"]
    write_elsewhere(gw, "UPDATE members SET status = 'Inactive' WHERE id = ?", member)
    await polled(gw)
    assert gw.gateway.cache.builds == builds + 1
    async with ChargePoint16("CP16", url=gw.url, password=PASSWORDS["CP16"]) as cp:
        await cp.boot()
        assert (await cp.authorize("TAG-OK"))["idTagInfo"]["status"] == "Blocked"


async def test_a_change_by_another_process_is_not_lost_among_in_process_ones(
    gw: Harness,
) -> None:
    """The CLI writes, then this process writes and refreshes before the poller looks:
    the poller still rebuilds, and both changes hold."""
    other = await gw.add_token("TAG-OTHER")
    builds = gw.gateway.cache.builds
    write_elsewhere(gw, "UPDATE tokens SET status = 'Blocked' WHERE value = 'TAG-OTHER'")
    member = gw.members["TAG-OK"]
    await write(gw, "UPDATE members SET status = 'Inactive' WHERE id = ?", member)
    await gw.gateway.refresh_cache({member})
    await polled(gw)
    assert gw.gateway.cache.builds == builds + 1
    snapshot = gw.gateway.cache.snapshot
    assert snapshot.members[member].status == "Inactive"
    token = snapshot.token("TAG-OTHER")
    assert token is not None and token.status == "Blocked" and token.member_id == other


async def test_tokens_moved_added_and_deleted_in_process_follow_at_once(gw: Harness) -> None:
    ada = gw.members["TAG-OK"]
    bob = await gw.add_token("TAG-BOB")
    now = datetime.now(UTC)
    await gw.gateway.members.add_token("TAG-NEW", ada, now)
    await write(gw, "UPDATE tokens SET member_id = ? WHERE value = 'TAG-BOB'", ada)
    await write(gw, "DELETE FROM tokens WHERE value = 'TAG-OK'")
    await gw.gateway.refresh_cache({ada, bob})
    snapshot = gw.gateway.cache.snapshot
    assert snapshot.token("TAG-OK") is None
    assert snapshot.token("tag-bob").member_id == ada  # type: ignore[union-attr]
    assert snapshot.token("TAG-NEW").member_id == ada  # type: ignore[union-attr]
    assert set(snapshot.token_keys(ada)) == {"tag-bob", "tag-new"}
    assert snapshot.token_keys(bob) == ()
    async with ChargePoint201("CP201", url=gw.url, password=PASSWORDS["CP201"]) as cs:
        await cs.boot()
        assert (await cs.authorize("TAG-OK"))["idTokenInfo"]["status"] == "Unknown"
        assert (await cs.authorize("TAG-BOB"))["idTokenInfo"]["status"] == "Accepted"


async def test_the_patched_cache_decides_as_a_cache_rebuilt_from_the_database(
    gw: Harness,
) -> None:
    """Several changes patched in one after the other, then compared with a rebuild."""
    ids = [gw.members["TAG-OK"]] + [await gw.add_token(f"TAG-{i}") for i in range(4)]
    now = datetime.now(UTC)
    policies = gw.gateway.policies
    await policies.set_policy(1, "member", ids[1], {"stations": ["CP16"]}, now)
    await gw.gateway.refresh_cache({ids[1]})
    group = await policies.ensure_group(1, "night")
    await policies.set_policy(1, "group", group, {"hours": [{"days": ["mon"], "start": "01:00",
                                                             "end": "02:00"}]}, now)  # fmt: skip
    await gw.gateway.refresh_cache(None)  # a group policy: rebuilt
    await policies.add_to_group(ids[2], group)
    await write(gw, "UPDATE members SET valid_until = '2020-01-01T00:00:00Z' WHERE id = ?", ids[3])
    await write(gw, "UPDATE tokens SET status = 'Lost' WHERE value = 'TAG-2'")
    await write(gw, "DELETE FROM policies WHERE scope_kind = 'member' AND scope_id = ?", ids[1])
    await gw.gateway.refresh_cache({ids[2], ids[3]})
    await gw.gateway.refresh_cache({ids[1]})
    patched = gw.gateway.cache.snapshot
    rebuilt = (await load(gw.gateway.policies)).snapshot
    assert dict(patched.members) == dict(rebuilt.members)
    assert dict(patched.tokens) == dict(rebuilt.tokens)
    assert dict(patched.policies) == dict(rebuilt.policies)
    for value in ("TAG-OK", "TAG-0", "TAG-1", "TAG-2", "TAG-3", "NOBODY"):
        for station in PASSWORDS:
            request = AuthRequest(value, station)
            assert decide(patched, request, {}, now, max_cache_lifetime=LIFETIME) == decide(
                rebuilt, request, {}, now, max_cache_lifetime=LIFETIME
            )


async def test_deactivating_a_charging_member_in_process_stops_the_session(gw: Harness) -> None:
    """After a patch, the patched members' running sessions are re-checked."""
    async with ChargePoint16("CP16", url=gw.url, password=PASSWORDS["CP16"]) as cp:
        await cp.boot()
        start = await cp.start_transaction(1, "TAG-OK", 0, timestamp="2026-11-23T08:00:00Z")
        member = gw.members["TAG-OK"]
        await write(gw, "UPDATE members SET status = 'Inactive' WHERE id = ?", member)
        await gw.gateway.refresh_cache([member])
        stop = await cp.wait_for_call("RemoteStopTransaction", timeout=5)
    assert stop == {"transactionId": start["transactionId"]}


async def test_a_change_that_does_not_fit_a_patch_is_rebuilt(gw: Harness) -> None:
    """A member moved to an organisation the snapshot does not know yet."""
    builds = gw.gateway.cache.builds
    now = datetime.now(UTC)
    org = await gw.gateway.members.ensure_organisation("Elsewhere", now)
    member = gw.members["TAG-OK"]
    await write(gw, "UPDATE members SET organisation_id = ? WHERE id = ?", org, member)
    await gw.gateway.refresh_cache({member})
    assert gw.gateway.cache.builds == builds + 1
    assert gw.gateway.cache.snapshot.members[member].org_id == org
