"""From the database to the engine's `Snapshot`: built whole, or patched member by member.

A whole snapshot is built at start and whenever something other than members
changed (organisations, stations, sites, groups' or organisations' policies),
or another process changed anything: `load` reads every row in one
transaction, with the cache generation it holds, then builds in a worker
thread. A change to some members made in this process is applied by
`patch` instead: it re-reads just those members (`PolicyStore.member_rows`)
and patches the snapshot (`Snapshot.patched`), at a cost that follows the
change, not the size of the database.

Usage counters (`load_usage`, `usage_from_rows`) are rebuilt from the
transactions at start (`usage_loader`).
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from gateway.policy_engine import MemberChange, ScopeKind, Snapshot
from gateway.store.policies import MemberRows, PolicyStore, Rows

from . import convert
from .usage_loader import USAGE_HORIZON, load_usage, usage_from_rows


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while millions of objects are made.

    Reading and building a million members' rows allocates millions of
    container objects, none of them in a reference cycle; each collection
    those allocations trigger traverses all those made so far (seconds at a
    million, and pauses for the event loop too). Reference counting still
    frees everything meanwhile. Resumes only if it was running.
    """
    running = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if running:
            gc.enable()


def build_snapshot(rows: Rows) -> Snapshot:
    """The snapshot of `rows`: organisations, stations, members, tokens, policies.

    Sized for a million members and tokens (seconds, in a worker thread):
    rows read by position, enums through dicts, members' group sets and
    identical policy bodies shared, and the garbage collector paused.
    """
    with gc_paused():
        members = convert.members(rows.members, convert.group_sets(rows.member_groups))
        return Snapshot.build(
            organisations=convert.organisations(rows.organisations),
            stations=convert.stations(rows.stations),
            members=members,
            tokens=convert.tokens(rows.tokens, {m.id: m.id for m in members}),
            policies=convert.policies(rows.policies, rows.sites),
        )


@dataclass(frozen=True, slots=True)
class Loaded:
    """A snapshot and the cache generation of the rows it was built from."""

    snapshot: Snapshot
    generation: int


async def load(store: PolicyStore) -> Loaded:
    """Read every row in one transaction, then build the snapshot in a worker thread.

    Building is pure CPU work proportional to the data (seconds for a million
    tokens); off the event loop, chargers keep being answered from the
    current snapshot meanwhile. The garbage collector is paused throughout
    (`gc_paused`).
    """
    with gc_paused():
        rows = await store.rows()
        snapshot = await asyncio.to_thread(build_snapshot, rows)
    return Loaded(snapshot, rows.generation)


async def load_snapshot(store: PolicyStore) -> Snapshot:
    """`load`, the snapshot alone."""
    return (await load(store)).snapshot


async def patch(store: PolicyStore, snapshot: Snapshot, member_ids: Collection[int]) -> Snapshot:
    """`snapshot` with these members as the database has them now.

    Re-reads the members, their groups, tokens and member-scope policies, and
    the tokens they held in `snapshot` wherever those are now (moved to
    another member, or deleted). ValueError (or a policy's validation error)
    when the change does not fit the snapshot: build a whole one instead.
    """
    ids = frozenset(member_ids)
    rows = await store.member_rows(ids, snapshot.token_values(ids))
    return snapshot.patched(member_change(rows, ids))


def member_change(rows: MemberRows, member_ids: frozenset[int]) -> MemberChange:
    """The engine's `MemberChange` of `rows`, re-read for `member_ids`."""
    scoped = convert.policies(rows.policies, rows.sites)
    return MemberChange(
        member_ids=member_ids,
        members=tuple(convert.members(rows.members, convert.group_sets(rows.member_groups))),
        tokens=tuple(convert.tokens(rows.tokens)),
        policies={s.id: p for s, p in scoped.items() if s.kind is ScopeKind.MEMBER},
    )


__all__ = [
    "USAGE_HORIZON",
    "Loaded",
    "build_snapshot",
    "gc_paused",
    "load",
    "load_snapshot",
    "load_usage",
    "member_change",
    "patch",
    "usage_from_rows",
]
