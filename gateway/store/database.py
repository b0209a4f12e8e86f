"""SQLite through aiosqlite: migrations, a group-commit writer, a reader.

Durability promise: :meth:`Database.write` returns only after the COMMIT that
contains the write has returned, in WAL mode with ``synchronous=FULL`` (the
WAL is fsynced at every commit). Writes arriving while a commit is in progress
are grouped into the next transaction (group commit), each inside its own
SAVEPOINT so that one failing write does not undo the others.

All writes go through one owned writer task and one connection; reads use a
second connection, which in WAL mode sees every committed write.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite
import structlog

from gateway.metrics import Metrics

T = TypeVar("T")
WriteOp = Callable[[aiosqlite.Connection], Awaitable[T]]
_STOP = object()
log = structlog.get_logger("gateway.store")


def _migrations() -> list[tuple[int, str]]:
    folder = resources.files("gateway.store") / "migrations"
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            found.append((int(entry.name.split("_", 1)[0]), entry.read_text(encoding="utf-8")))
    return sorted(found)


SCHEMA_VERSION = max(v for v, _ in _migrations())


class Database:
    def __init__(self, path: Path, *, metrics: Metrics | None = None, batch_max: int = 256):
        self.path = path
        self._metrics = metrics
        self._batch_max = batch_max
        self._writer_db: aiosqlite.Connection | None = None
        self._reader_db: aiosqlite.Connection | None = None
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._writer_task: asyncio.Task[None] | None = None

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer_db = await self._connect()
        await self._migrate(self._writer_db)
        self._reader_db = await self._connect()
        await self._reader_db.execute("PRAGMA query_only = ON")
        self._writer_task = asyncio.create_task(self._writer(), name="db-writer")

    async def _connect(self) -> aiosqlite.Connection:
        db = await aiosqlite.connect(self.path, isolation_level=None)
        db.row_factory = aiosqlite.Row
        for pragma in (
            "PRAGMA journal_mode = WAL",
            "PRAGMA synchronous = FULL",
            "PRAGMA foreign_keys = ON",
            "PRAGMA busy_timeout = 10000",
        ):
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
        for db in (self._reader_db, self._writer_db):
            if db is not None:
                await db.close()
        self._reader_db = self._writer_db = None

    @property
    def reader(self) -> aiosqlite.Connection:
        assert self._reader_db is not None, "database is not open"
        return self._reader_db

    async def write(self, op: WriteOp[T]) -> T:
        """Run ``op`` in a write transaction; return once it is durably committed."""
        if self._writer_task is None or self._writer_task.done():
            raise RuntimeError("database writer is not running")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        await self._queue.put((op, future))
        return await asyncio.shield(future)

    async def fetchone(self, sql: str, params: tuple[Any, ...] = ()) -> aiosqlite.Row | None:
        async with self.reader.execute(sql, params) as cur:
            return await cur.fetchone()

    async def fetchall(self, sql: str, params: tuple[Any, ...] = ()) -> list[aiosqlite.Row]:
        async with self.reader.execute(sql, params) as cur:
            return list(await cur.fetchall())

    async def ping(self) -> bool:
        try:
            await self.fetchone("SELECT 1")
        except Exception:
            return False
        return True

    async def _writer(self) -> None:
        stopping = False
        while not stopping:
            item = await self._queue.get()
            if item is _STOP:
                break
            batch = [item]
            while len(batch) < self._batch_max:
                try:
                    item = self._queue.get_nowait()
                except asyncio.QueueEmpty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)
            await self._commit_batch(batch)

    async def _commit_batch(self, batch: list[tuple[WriteOp[Any], asyncio.Future[Any]]]) -> None:
        db = self._writer_db
        assert db is not None
        outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = []
        try:
            await db.execute("BEGIN IMMEDIATE")
            for op, future in batch:
                await db.execute("SAVEPOINT op")
                try:
                    result = await op(db)
                except Exception as exc:
                    await db.execute("ROLLBACK TO op")
                    outcomes.append((future, None, exc))
                else:
                    outcomes.append((future, result, None))
                await db.execute("RELEASE op")
            started = time.monotonic()
            await db.execute("COMMIT")
            if self._metrics is not None:
                self._metrics.db_commit_seconds.observe(time.monotonic() - started)
                self._metrics.db_batch_size.observe(len(batch))
        except Exception as exc:
            log.error("commit failed; the batch is rolled back", error=repr(exc), size=len(batch))
            if db.in_transaction:
                await db.execute("ROLLBACK")
            outcomes = [(future, None, exc) for _, future in batch]
        for future, result, error in outcomes:
            if future.done():
                continue
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)
