"""Keeping the policy cache in step with the database: patches, rebuilds, polling.

Three ways a change reaches the snapshot the engine decides from:

- **Patch** (`refresh(member_ids)`): a change this process has just committed
  to some members (status, validity, tokens, groups, own policy). Just those
  members are re-read, in one transaction, and the snapshot is patched
  (`Snapshot.patched`): a few hundred microseconds whatever the size of the
  database. The admin API awaits it before answering, so the very next
  decision on any connection sees the change. Running sessions of those
  members are re-checked.
- **Rebuild** (`rebuild()`, `refresh(None)`): every row is read in one
  transaction, the snapshot built in a worker thread and swapped in whole;
  every running session is re-checked. At start, for changes that are not
  members' (organisations, stations, sites, group and organisation
  policies), and for changes made by other processes.
- **Poll** (`poll()`, every second): notices changes made by other
  processes (the CLI, a ``sqlite3`` shell) and rebuilds for them.

**When the poller rebuilds.** SQL triggers bump ``meta.cache_generation``
at every change the cache reads, whoever makes it, and each rebuild records
the generation its rows held (`generation`). A moved generation alone cannot
say who moved it: this process's own changes, already patched or about to
be, or another process's. The writing connection can: its
``PRAGMA data_version`` moves when, and only when, *another* connection has
committed (`PolicyStore.writer_data_version`), and this process writes
through that one connection only. So:

1. a rebuild reads the writer's data_version first, then the rows: any
   other process's commit that the rows miss comes after that reading, and
   moves the data_version away from the value recorded;
2. the poller reads the generation; when it moved past the one recorded, it
   reads the writer's data_version. Unchanged: every change since the rows
   were read came from this process, and in-process writers follow each
   change with `refresh` (their contract), so the poller records the
   generation as seen and does not rebuild. Moved: another process wrote,
   and the poller rebuilds, even when an in-process change bumped the
   generation as well: a CLI change is never lost, whenever it lands.

A patch never records a generation: it cannot tell whose bumps it saw.

**Patches racing a rebuild.** Members patched while a rebuild reads and
builds are re-read and patched onto the new snapshot before it is swapped in
(their rows are then newer than the rebuild's), so a rebuild never brings
back an older state of a member already patched; a patch waits only for a
swap, never for a build.

**Memory, off the event loop.** A snapshot holds millions of objects in no
reference cycle. The garbage collector is paused while they are made, and
they are frozen (`gc.freeze`, constant time) as soon as they are swapped
in, so no collection ever traverses them. The full collection that used to
precede the freeze (half a second at a million tokens, on the event loop)
now runs before the build, when the current snapshot is frozen already and
only the rest of the heap is traversed (about a millisecond); what cyclic
garbage the event loop makes during the build is frozen with the snapshot
(it stays until the process ends: one build's worth per rebuild, and
rebuilds are rare now that members are patched). The snapshot replaced is
freed a slice at a time between event loop turns (`_release`), not in one
quarter-second go.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import time
from collections.abc import Awaitable, Callable, Collection, Iterable
from typing import Any

import structlog

from gateway.metrics import Metrics
from gateway.policy_engine import RunningVerdict
from gateway.store.policies import PolicyStore
from gateway.timeutil import Clock

from .cache import PolicyCache
from .loader import gc_paused, load, load_usage, patch

log = structlog.get_logger("gateway.policy_cache")
Enforce = Callable[[str, str, RunningVerdict], object]
"""What to do with a running session's verdict: (session id, station id, verdict)."""
_ATTEMPTS = 2  # rebuilds whose patched members no longer fit before giving up
_RELEASE_SLICE = 5_000  # entries of a replaced snapshot freed between two event loop turns
_SOLE = 2  # `sys.getrefcount` of a dict only `_release` holds: its variable and the argument


class CacheUpdater:
    """Keeps `cache` in step with the database (see the module docstring)."""

    def __init__(
        self,
        cache: PolicyCache,
        store: PolicyStore,
        generation: Callable[[], Awaitable[int]],
        clock: Clock,
        enforce: Enforce,
        metrics: Metrics | None = None,
    ) -> None:
        self._cache = cache
        self._metrics = metrics
        self._store = store
        self._read_generation = generation
        self._clock = clock
        self._enforce = enforce
        self.generation = -1  # the cache generation the snapshot is known to hold
        self._writer_version: int | None = None  # the writer's data_version before its rows
        self._build_lock = asyncio.Lock()  # one rebuild at a time
        self._swap_lock = asyncio.Lock()  # patches and swaps, one at a time
        self._builds_begun = 0
        self._builds_swapped = 0  # the number of the last rebuild swapped in
        self._replay: set[int] | None = None  # members patched while a rebuild runs

    async def rebuild(self, *, with_usage: bool = False) -> None:
        """Build the snapshot from the whole database (and at start, `with_usage`, the
        counters from the transactions), swap it in, re-check every running session.

        A rebuild that began reading after this call was made is as good as a
        new one: when one is swapped in meanwhile, this returns.
        """
        wanted = self._builds_begun + 1
        async with self._build_lock:
            if self._builds_swapped >= wanted and not with_usage:
                return
            try:
                await self._rebuild(with_usage)
            except BaseException:
                self._writer_version = None  # the poller rebuilds at its next round
                raise
            self._recheck(self._cache.running())

    async def _rebuild(self, with_usage: bool) -> None:
        self._builds_begun += 1
        number = self._builds_begun
        started = time.perf_counter()
        gc.collect()  # the current snapshot is frozen: this traverses the rest only
        self._replay = set()
        try:
            with gc_paused():  # until the new snapshot is frozen
                for attempt in range(1, _ATTEMPTS + 1):
                    if await self._build_and_swap(number, with_usage, last=attempt == _ATTEMPTS):
                        break
        finally:
            self._replay = None
        snapshot = self._cache.snapshot
        if self._metrics is not None:
            self._metrics.cache_updates.labels("rebuild").inc()
            self._metrics.cache_rebuild_seconds.observe(time.perf_counter() - started)
        log.info(
            "policy cache loaded",
            generation=self.generation,
            tokens=len(snapshot.tokens),
            members=len(snapshot.members),
            stations=len(snapshot.stations),
            seconds=round(time.perf_counter() - started, 3),
        )

    async def _build_and_swap(self, number: int, with_usage: bool, *, last: bool) -> bool:
        """Read, build, patch again the members patched meanwhile, swap; False: try again."""
        version = await self._store.writer_data_version()
        loaded = await load(self._store)
        usage = None
        if with_usage:
            usage = await load_usage(self._store, loaded.snapshot, self._clock())
        async with self._swap_lock:
            replay, self._replay = self._replay or set(), set()
            try:
                snapshot = loaded.snapshot
                if replay:
                    snapshot = await patch(self._store, snapshot, replay)
            except Exception as exc:
                if last:
                    raise
                log.warning("members patched meanwhile do not fit the rebuild", error=repr(exc))
                return False
            old = self._cache.snapshot
            self._cache.load(snapshot, usage)
            gc.freeze()
            self.generation = loaded.generation
            self._writer_version = version
            self._builds_swapped = number
        parts = old.bulk()
        del old  # what nothing else holds now can be freed slice by slice
        await _release(parts)
        return True

    async def refresh(self, member_ids: Collection[int] | None) -> None:
        """Make the cache hold a change this process has just committed (see the module
        docstring); `member_ids` None: anything may have changed (a rebuild)."""
        if member_ids is None:
            await self.rebuild()
            return
        ids = frozenset(member_ids)
        if not ids:
            return
        async with self._swap_lock:
            started = time.perf_counter()
            try:
                snapshot = await patch(self._store, self._cache.snapshot, ids)
            except Exception as exc:
                failure: Exception | None = exc
            else:
                failure = None
                self._cache.apply_patch(snapshot)
                if self._replay is not None:
                    self._replay |= ids
        if failure is not None:
            log.warning("policy cache patch does not fit; rebuilding", error=repr(failure))
            await self.rebuild()
            return
        if self._metrics is not None:
            self._metrics.cache_updates.labels("patch").inc()
        log.debug(
            "policy cache patched",
            members=len(ids),
            microseconds=round((time.perf_counter() - started) * 1e6),
        )
        self._recheck(self._cache.running(ids))

    async def poll(self) -> None:
        """Rebuild when another process changed what the cache reads (module docstring)."""
        generation = await self._read_generation()
        if generation == self.generation:
            return
        version = await self._store.writer_data_version()
        if version == self._writer_version:
            self.generation = generation  # this process's changes: they come through refresh
            return
        log.info("the database was changed by another process", generation=generation)
        await self.rebuild()

    def close(self) -> None:
        """Release the connection patches read through."""
        self._store.close_readers()

    def _recheck(self, sessions: Iterable[tuple[int, str, str]]) -> None:
        now = self._clock()
        for member_id, session_id, station_id in list(sessions):
            self._enforce(session_id, station_id, self._cache.recheck(member_id, session_id, now))


async def _release(parts: list[dict[Any, Any]]) -> None:
    """Free the replaced snapshot's millions of objects a slice at a time.

    Dropped at once, they would all be freed in one go on the event loop (a
    quarter of a second at a million tokens). Each of `parts` that nothing
    but this list holds (no snapshot reads it any more) is emptied
    `_RELEASE_SLICE` entries at a time, letting chargers be answered in
    between; one still read is left to reference counting.
    """
    while parts:
        part = parts.pop()
        if sys.getrefcount(part) > _SOLE:
            continue
        while part:
            for _ in range(min(len(part), _RELEASE_SLICE)):
                part.popitem()
            await asyncio.sleep(0)
        del part
