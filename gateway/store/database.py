"""SQLite: migrations, a group-commit writer, a reader.

Durability promise: :meth:`Database.write` and :meth:`Database.write_sync`
return only after the COMMIT that contains the write has returned, in WAL
mode with ``synchronous=FULL`` (the WAL is fsynced at every commit). Writes
arriving while a commit is in progress are grouped into the next transaction
(group commit), each inside its own SAVEPOINT so that one failing write does
not undo the others.

Two kinds of write operations, queued in one order:

* :meth:`~Database.write_sync` takes a plain function of a
  :class:`sqlite3.Connection` (the hot path: transactions, meter values).
  The writer runs each run of consecutive synchronous operations, every one
  in its SAVEPOINT, together with the COMMIT when the run ends the batch, in
  **one** call into the database thread: a group of 100 writes costs one
  thread hop instead of hundreds.
* :meth:`~Database.write` takes a coroutine function of an
  :class:`aiosqlite.Connection`, for code that is not on the hot path
  (members, stations, policies, the admin API); each of its statements is a
  thread hop, as with aiosqlite everywhere.

Both kinds share one writing connection and one transaction per batch: the
writer's ``sqlite3.Connection`` is opened with ``check_same_thread=False``
and used from two threads that never run at the same time (the writer task
awaits each step before the next): aiosqlite's own thread for the
asynchronous operations, and the writer's single-thread executor for the
synchronous runs and the COMMIT.

Bulk admin work (an import's chunks, :meth:`~Database.write_bulk`) waits in a
lane of its own: each chunk is one transaction by itself, and the writer takes
one only when the batch it has just committed is done, before the writes that
arrived meanwhile are taken again. Chargers' writes therefore go first, and
wait behind at most one chunk of admin work; a chunk waits behind at most one
batch of theirs (it is never starved).

All writes go through one owned writer task; reads use a second connection,
which in WAL mode sees every committed write. :meth:`fetchone` and
:meth:`fetchall` cost one thread hop each.

Faults (see ``gateway.store.health``): after every COMMIT the writer checks,
in the same thread hop, that the files it wrote are still the ones at the
path (an unlinked or replaced file takes writes without an error); a write
that fails for want of storage, or a commit into a moved file, fails every
write of its batch with :class:`StorageUnavailable` and marks the database
faulted. While it is, writes are refused at once with the same error, and
:meth:`Database.check_health`, called periodically by the gateway, probes
for recovery (a test write, or reopening a file restored at the path).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Generic, TypeVar

import aiosqlite
import structlog

from gateway.metrics import Metrics
from gateway.store.health import (
    Fault,
    FaultKind,
    StorageHealth,
    StorageUnavailable,
    StoreFiles,
    classify,
    page_headroom,
)

T = TypeVar("T")
WriteOp = Callable[[aiosqlite.Connection], Awaitable[T]]
"""An asynchronous write operation (each statement is a hop into the database thread)."""
SyncWriteOp = Callable[[sqlite3.Connection], T]
"""A synchronous write operation, run in the database thread with the others of its batch."""
_STOP = object()
_BULK = object()  # wakes the writer up for a chunk waiting in the bulk lane
_PRAGMAS = (
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = FULL",
    "PRAGMA foreign_keys = ON",
    "PRAGMA busy_timeout = 10000",
)
log = structlog.get_logger("gateway.store")


def _migrations() -> list[tuple[int, str]]:
    folder = resources.files("gateway.store") / "migrations"
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            found.append((int(entry.name.split("_", 1)[0]), entry.read_text(encoding="utf-8")))
    return sorted(found)


SCHEMA_VERSION = max(v for v, _ in _migrations())


@dataclass(slots=True)
class _Pending(Generic[T]):
    """One queued write: its operation, whether it is synchronous, the caller's future."""

    op: Callable[..., Any]
    sync: bool
    future: asyncio.Future[T]


@dataclass(slots=True)
class _Outcome:
    result: Any = None
    error: BaseException | None = None


Verify = Callable[[], Fault | None]
"""Run after each COMMIT, in the same thread hop: whether the files written are still there."""


def _run_sync_ops(
    conn: sqlite3.Connection, ops: list[_Pending[Any]], begin: bool, commit: bool, verify: Verify
) -> tuple[list[_Outcome], float | None, Fault | None]:
    """In the database thread: [BEGIN,] each op in its SAVEPOINT, [COMMIT]; the commit's
    time and what ``verify`` found after it.

    An op that raises is rolled back to its savepoint and reported; the others
    stand. A failing BEGIN, SAVEPOINT or COMMIT raises (the writer then rolls
    the whole batch back).
    """
    if begin:
        conn.execute("BEGIN IMMEDIATE")
    outcomes = []
    for pending in ops:
        conn.execute("SAVEPOINT op")
        try:
            outcome = _Outcome(result=pending.op(conn))
        except Exception as exc:
            if classify(exc) is not None:
                raise  # the transaction is suspect: the whole batch fails
            conn.execute("ROLLBACK TO op")
            outcome = _Outcome(error=exc)
        conn.execute("RELEASE op")
        outcomes.append(outcome)
    if not commit:
        return outcomes, None, None
    seconds, fault = _commit(conn, verify)
    return outcomes, seconds, fault


def _commit(conn: sqlite3.Connection, verify: Verify) -> tuple[float, Fault | None]:
    started = time.monotonic()
    conn.execute("COMMIT")
    seconds = time.monotonic() - started
    return seconds, verify()


def _test_write(conn: sqlite3.Connection, verify: Verify) -> Fault | None:
    """A durable write that changes nothing (page 1 rewritten, WAL appended and synced)."""
    fault = page_headroom(conn)
    if fault is not None:
        return fault
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(f"PRAGMA user_version = {int(version)}")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return _commit(conn, verify)[1]


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def _open_raw(path: Path, max_bytes: int | None) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.row_factory = aiosqlite.Row
    for pragma in _PRAGMAS:
        conn.execute(pragma)
    if max_bytes is not None:
        (page_size,) = conn.execute("PRAGMA page_size").fetchone()
        conn.execute(f"PRAGMA max_page_count = {max(1, max_bytes // page_size)}")
    return conn


class Database:
    def __init__(
        self,
        path: Path,
        *,
        metrics: Metrics | None = None,
        batch_max: int = 256,
        max_bytes: int | None = None,
        min_free_bytes: int = 0,
    ):
        self.path = path
        self._metrics = metrics
        self._batch_max = batch_max
        self._max_bytes = max_bytes
        self.files = StoreFiles(path, min_free_bytes)
        self.health = StorageHealth(metrics)
        self._raw_writer: sqlite3.Connection | None = None
        self._writer_db: aiosqlite.Connection | None = None
        self._reader_db: aiosqlite.Connection | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._bulk: deque[_Pending[Any]] = deque()
        self._writer_task: asyncio.Task[None] | None = None

    async def open(self) -> None:
        self.files.create()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="db-writer")
        await self._open_connections()
        self._writer_task = asyncio.create_task(self._writer(), name="db-writer")

    async def _open_connections(self) -> None:
        raw = await self._in_writer_thread(_open_raw, self.path, self._max_bytes)
        self._raw_writer = raw
        self._writer_db = await aiosqlite.Connection(lambda: raw, 64)
        await self._migrate(self._writer_db)
        self._reader_db = await self._connect()
        await self._reader_db.execute("PRAGMA query_only = ON")
        self.files.opened()

    async def _close_connections(self) -> None:
        for db in (self._reader_db, self._writer_db):
            if db is not None:
                await db.close()
        self._reader_db = self._writer_db = self._raw_writer = None

    async def _in_writer_thread(self, fn: Callable[..., T], *args: Any) -> T:
        assert self._executor is not None
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def _connect(self) -> aiosqlite.Connection:
        db = await aiosqlite.connect(self.path, isolation_level=None)
        db.row_factory = aiosqlite.Row
        for pragma in _PRAGMAS:
            await db.execute(pragma)
        return db

    async def _migrate(self, db: aiosqlite.Connection) -> None:
        async with db.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        current = int(row[0]) if row else 0
        if current > SCHEMA_VERSION:
            raise RuntimeError(
                f"database {self.path} has schema {current}, newer than this gateway "
                f"({SCHEMA_VERSION}); upgrade the gateway"
            )
        for version, sql in _migrations():
            if version <= current:
                continue
            await db.executescript(
                f"BEGIN IMMEDIATE;\n{sql}\nPRAGMA user_version = {version};\nCOMMIT;"
            )
            log.info("schema migrated", version=version, database=str(self.path))

    async def close(self) -> None:
        """Finish every queued write, then close both connections."""
        if self._writer_task is not None:
            await self._queue.put(_STOP)
            await self._writer_task
            self._writer_task = None
        await self._close_connections()
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None

    @property
    def reader(self) -> aiosqlite.Connection:
        assert self._reader_db is not None, "database is not open"
        return self._reader_db

    async def write(self, op: WriteOp[T]) -> T:
        """Run the coroutine ``op`` in a write transaction; return once it is durably committed."""
        result: T = await self._enqueue(op, sync=False)
        return result

    async def write_sync(self, op: SyncWriteOp[T]) -> T:
        """Run the function ``op`` in a write transaction, in the database thread, with the
        other synchronous writes of its batch; return once it is durably committed.

        ``op`` must not keep the connection or a cursor beyond its call.
        """
        result: T = await self._enqueue(op, sync=True)
        return result

    async def write_bulk(self, op: SyncWriteOp[T]) -> T:
        """Run one chunk of bulk admin work, the function ``op``, in a transaction of its own
        in the database thread, after the chargers' writes waiting now; return once it is
        durably committed. Keep ``op`` short (a bounded chunk): chargers' writes arriving
        while it runs wait for it."""
        result: T = await self._enqueue(op, sync=True, bulk=True)
        return result

    async def _enqueue(self, op: Callable[..., Any], *, sync: bool, bulk: bool = False) -> Any:
        if self._writer_task is None or self._writer_task.done():
            raise RuntimeError("database writer is not running")
        if self.health.fault is not None:
            raise StorageUnavailable(self.health.fault)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if bulk:
            self._bulk.append(_Pending(op, sync, future))
            self._queue.put_nowait(_BULK)
        else:
            self._queue.put_nowait(_Pending(op, sync, future))
        # A caller cancelled meanwhile cancels only its wait: the write is already queued
        # and is committed all the same (the writer skips futures that are done).
        return await future

    async def fetchone(self, sql: str, params: tuple[Any, ...] = ()) -> aiosqlite.Row | None:
        """The first row of a query that returns one row (one thread hop)."""
        rows = await self.reader.execute_fetchall(sql, params)
        for row in rows:
            return row
        return None

    async def fetchall(self, sql: str, params: tuple[Any, ...] = ()) -> list[aiosqlite.Row]:
        return list(await self.reader.execute_fetchall(sql, params))

    async def ping(self) -> bool:
        try:
            await self.fetchone("SELECT 1")
        except Exception:
            return False
        return True

    async def check_health(self) -> bool:
        """Look at the files and the free room, and probe for recovery while faulted: a test
        write, or reopening a database file put back at the path. Runs in the writer's turn
        (between two batches). True when the database was reopened."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Probe(future))
        return await future

    async def _writer(self) -> None:
        carried: Any = None
        while True:
            item, carried = (carried if carried is not None else await self._queue.get()), None
            if item is _STOP:
                break
            if isinstance(item, _Probe):
                await self._probe(item.future)
                continue
            batch = [] if item is _BULK else [item]
            while len(batch) < self._batch_max:
                try:
                    item = self._queue.get_nowait()
                except asyncio.QueueEmpty:
                    break
                if item is _STOP or isinstance(item, _Probe):
                    carried = item
                    break
                if item is not _BULK:
                    batch.append(item)
            if batch:
                await self._commit_batch(batch)
            if self._bulk:  # one chunk, then the writes that arrived meanwhile
                await self._commit_batch([self._bulk.popleft()])
                if self._bulk:  # another import's: its wake-up may have been taken above
                    self._queue.put_nowait(_BULK)
        while self._bulk:  # closing: finish the chunks already queued
            await self._commit_batch([self._bulk.popleft()])

    async def _commit_batch(self, batch: list[_Pending[Any]]) -> None:
        """One transaction for the batch: runs of synchronous ops each in one hop, the
        asynchronous ops one statement at a time, the COMMIT with the last run."""
        fault = self.health.fault or self.files.shm_unwritable()
        if fault is not None:  # queued before the fault was seen, or seen just now
            _settle(batch, [_Outcome(error=self._faulted(fault))] * len(batch))
            return
        db, raw = self._writer_db, self._raw_writer
        assert db is not None and raw is not None
        verify = self.files.moved
        outcomes: list[_Outcome] = []
        commit_seconds: float | None = None
        moved: Fault | None = None
        try:
            begun = False
            index = 0
            while index < len(batch):
                end = index
                while end < len(batch) and batch[end].sync == batch[index].sync:
                    end += 1
                run = batch[index:end]
                last = end == len(batch)
                if run[0].sync:
                    done, commit_seconds, moved = await self._in_writer_thread(
                        _run_sync_ops, raw, run, not begun, last, verify
                    )
                    outcomes.extend(done)
                else:
                    if not begun:
                        await db.execute("BEGIN IMMEDIATE")
                    for pending in run:
                        outcomes.append(await self._run_async_op(db, pending))
                    if last:
                        commit_seconds, moved = await self._in_writer_thread(_commit, raw, verify)
                begun = True
                index = end
            if self._metrics is not None and commit_seconds is not None:
                self._metrics.db_commit_seconds.observe(commit_seconds)
                self._metrics.db_batch_size.observe(len(batch))
        except Exception as exc:
            fault = classify(exc)
            if fault is None:
                log.error(
                    "commit failed; the batch is rolled back", error=repr(exc), size=len(batch)
                )
            try:
                await self._in_writer_thread(_rollback, raw)
            except Exception as rollback_exc:
                log.error("rollback failed", error=repr(rollback_exc))
            error = exc if fault is None else self._faulted(fault)
            outcomes = [_Outcome(error=error)] * len(batch)
        if moved is not None:  # committed into a file that is no longer the database
            outcomes = [_Outcome(error=self._faulted(moved))] * len(batch)
        _settle(batch, outcomes)

    def _faulted(self, fault: Fault) -> StorageUnavailable:
        self.health.report(fault)
        return StorageUnavailable(fault)

    @staticmethod
    async def _run_async_op(db: aiosqlite.Connection, pending: _Pending[Any]) -> _Outcome:
        await db.execute("SAVEPOINT op")
        try:
            outcome = _Outcome(result=await pending.op(db))
        except Exception as exc:
            if classify(exc) is not None:
                raise  # the transaction is suspect: the whole batch fails
            await db.execute("ROLLBACK TO op")
            outcome = _Outcome(error=exc)
        await db.execute("RELEASE op")
        return outcome

    async def _probe(self, future: asyncio.Future[bool]) -> None:
        reopened = False
        try:
            fault = await self._in_writer_thread(self._inspect)
            if fault is not None and fault.kind in _MOVED and self.files.reappeared():
                await self._reopen()
                reopened = True
                fault = await self._in_writer_thread(self._inspect)
            if fault is None and (self.health.fault is not None or reopened):
                assert self._raw_writer is not None
                fault = await self._in_writer_thread(
                    _test_write, self._raw_writer, self.files.moved
                )
        except Exception as exc:
            fault = classify(exc)
            if fault is None:
                if not future.done():
                    future.set_exception(exc)
                return
        if fault is None:
            self.health.clear()
        else:
            self.health.report(fault)
        if not future.done():
            future.set_result(reopened)

    def _inspect(self) -> Fault | None:
        """In the writer's thread: the files, then the pages left under ``max_bytes``."""
        fault = self.files.inspect()
        if fault is None and self._raw_writer is not None:
            fault = page_headroom(self._raw_writer)
        return fault

    async def _reopen(self) -> None:
        """Open the file now at the path; the old connections are closed once the new ones
        are open (they stay if opening fails)."""
        old = (self._raw_writer, self._writer_db, self._reader_db)
        try:
            await self._open_connections()
        except BaseException:
            for db in (self._reader_db, self._writer_db):
                if db is not None and db not in old:
                    await db.close()
            self._raw_writer, self._writer_db, self._reader_db = old
            raise
        for db in old[1:]:
            if db is not None:
                await db.close()
        log.warning("database reopened: a file is at its path again", database=str(self.path))


@dataclass(slots=True)
class _Probe:
    future: asyncio.Future[bool]


_MOVED = frozenset({FaultKind.MISSING, FaultKind.REPLACED})


def _settle(batch: list[_Pending[Any]], outcomes: list[_Outcome]) -> None:
    for pending, outcome in zip(batch, outcomes, strict=True):
        future = pending.future
        if future.done():
            continue
        if outcome.error is not None:
            future.set_exception(outcome.error)
        else:
            future.set_result(outcome.result)
