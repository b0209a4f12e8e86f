"""A replaced snapshot is freed a slice at a time (`policy_cache.updates._release`), and
only when nothing reads it any more: a snapshot still held is never touched."""

from __future__ import annotations

import sys
from decimal import Decimal
from zoneinfo import ZoneInfo

from gateway.policy_cache.updates import _release
from gateway.policy_engine import (
    MemberChange,
    MemberInfo,
    OrganisationInfo,
    Snapshot,
    Tariff,
    TokenInfo,
    TokenType,
)

ORG = OrganisationInfo(1, "Org", ZoneInfo("UTC"), "EUR", Tariff(Decimal(0)))


def _snapshot(size: int) -> Snapshot:
    members = [MemberInfo(i, 1, "F", "L", "e") for i in range(size)]
    tokens = [TokenInfo(f"T{i}", TokenType.ISO14443, i) for i in range(size)]
    return Snapshot.build(organisations=[ORG], members=members, tokens=tokens)


async def test_a_snapshot_nothing_reads_is_emptied_slice_by_slice() -> None:
    snapshot = _snapshot(12_000)  # several slices
    member = snapshot.members[7]
    held = sys.getrefcount(member)
    parts = snapshot.bulk()
    del snapshot
    await _release(parts)
    assert not parts
    assert sys.getrefcount(member) == held - 2  # gone from the members and the holders


async def test_a_snapshot_still_held_is_left_alone() -> None:
    snapshot = _snapshot(100)
    patched = snapshot.patched(MemberChange(frozenset({3})))  # member 3 deleted
    parts = patched.bulk()
    del patched  # the patched copy is gone, but it shares its base with `snapshot`
    await _release(parts)
    assert len(snapshot.members) == 100 and len(snapshot.tokens) == 100
    assert snapshot.token("t3") is not None and 3 in snapshot.members
