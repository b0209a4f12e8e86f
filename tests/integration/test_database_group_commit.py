"""The group-commit writer: synchronous and asynchronous writes, savepoints, durability.

Each test uses a real SQLite file; "committed" is checked from a separate
connection, which only sees what a COMMIT made durable.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiosqlite
import pytest

from gateway.metrics import Metrics
from gateway.store.database import Database


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
async def db(tmp_path: Path, metrics: Metrics) -> AsyncIterator[Database]:
    database = Database(tmp_path / "db.sqlite3", metrics=metrics)
    await database.open()
    await database.write_sync(
        lambda c: c.execute("CREATE TABLE items (name TEXT PRIMARY KEY, n INTEGER)")
    )
    yield database
    await database.close()


def committed(db: Database) -> list[tuple[str, int]]:
    """The rows another connection sees (only committed data)."""
    with sqlite3.connect(db.path) as other:
        rows = other.execute("SELECT name, n FROM items ORDER BY name").fetchall()
    other.close()
    return [(str(name), int(n)) for name, n in rows]


def insert(name: str, n: int = 1) -> Callable[[sqlite3.Connection], str]:
    def op(conn: sqlite3.Connection) -> str:
        conn.execute("INSERT INTO items VALUES (?, ?)", (name, n))
        return name

    return op


def insert_then_fail(name: str) -> Callable[[sqlite3.Connection], None]:
    def op(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO items VALUES (?, 1)", (name,))
        raise ValueError(f"{name} fails after writing")

    return op


def batch_sizes(metrics: Metrics) -> list[float]:
    """[commits, writes] observed so far."""
    samples = metrics.db_batch_size.collect()[0].samples
    count = next(s.value for s in samples if s.name.endswith("_count"))
    total = next(s.value for s in samples if s.name.endswith("_sum"))
    return [count, total]


async def test_write_sync_returns_after_the_commit(db: Database) -> None:
    assert await db.write_sync(insert("a")) == "a"
    assert committed(db) == [("a", 1)]


async def test_a_failing_sync_write_does_not_undo_the_others_of_its_batch(
    db: Database, metrics: Metrics
) -> None:
    before = batch_sizes(metrics)
    results = await asyncio.gather(
        db.write_sync(insert("a")),
        db.write_sync(insert_then_fail("b")),
        db.write_sync(insert("c")),
        return_exceptions=True,
    )
    assert results[0] == "a" and results[2] == "c"
    assert isinstance(results[1], ValueError)
    assert committed(db) == [("a", 1), ("c", 1)]
    after = batch_sizes(metrics)
    assert after[0] - before[0] == 1, "the three writes share one commit"
    assert after[1] - before[1] == 3


async def test_a_constraint_violation_is_the_callers_error_only(db: Database) -> None:
    await db.write_sync(insert("a"))
    results = await asyncio.gather(
        db.write_sync(insert("a", 2)), db.write_sync(insert("b")), return_exceptions=True
    )
    assert isinstance(results[0], sqlite3.IntegrityError)
    assert results[1] == "b"
    assert committed(db) == [("a", 1), ("b", 1)]


async def test_sync_and_async_writes_share_a_batch_in_order(db: Database, metrics: Metrics) -> None:
    async def async_insert(conn: aiosqlite.Connection) -> str:
        await conn.execute("INSERT INTO items VALUES ('async', 1)")
        return "async"

    async def async_fail(conn: aiosqlite.Connection) -> None:
        await conn.execute("INSERT INTO items VALUES ('async-fail', 1)")
        raise ValueError("fails after writing")

    def bump(conn: sqlite3.Connection) -> int:
        conn.execute("UPDATE items SET n = n + 1 WHERE name = 'async'")
        return int(conn.execute("SELECT n FROM items WHERE name = 'async'").fetchone()[0])

    before = batch_sizes(metrics)
    results = await asyncio.gather(
        db.write_sync(insert("first")),
        db.write(async_insert),
        db.write(async_fail),
        db.write_sync(bump),
        return_exceptions=True,
    )
    assert results[0] == "first" and results[1] == "async" and results[3] == 2
    assert isinstance(results[2], ValueError)
    assert committed(db) == [("async", 2), ("first", 1)]
    assert batch_sizes(metrics)[0] - before[0] == 1


async def test_a_failing_commit_fails_the_whole_batch_and_the_writer_goes_on(
    db: Database,
) -> None:
    def tables(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
        conn.execute(
            "CREATE TABLE child (parent INTEGER REFERENCES parent (id)"
            " DEFERRABLE INITIALLY DEFERRED)"
        )

    await db.write_sync(tables)

    def orphan(conn: sqlite3.Connection) -> None:  # only detected at COMMIT
        conn.execute("INSERT INTO child VALUES (42)")

    results = await asyncio.gather(
        db.write_sync(insert("a")), db.write_sync(orphan), return_exceptions=True
    )
    assert all(isinstance(r, sqlite3.IntegrityError) for r in results)
    assert committed(db) == []
    assert await db.write_sync(insert("b")) == "b"
    assert committed(db) == [("b", 1)]


async def test_close_commits_every_queued_write(tmp_path: Path) -> None:
    database = Database(tmp_path / "db.sqlite3")
    await database.open()
    await database.write_sync(lambda c: c.execute("CREATE TABLE items (name TEXT, n INTEGER)"))
    writes = [asyncio.ensure_future(database.write_sync(insert(f"w{i:03}"))) for i in range(300)]
    await asyncio.sleep(0)
    await database.close()
    assert [w.result() for w in writes] == [f"w{i:03}" for i in range(300)]
    assert len(committed(database)) == 300


async def test_reads_see_committed_writes(db: Database) -> None:
    await db.write_sync(insert("a", 7))
    row = await db.fetchone("SELECT n FROM items WHERE name = ?", ("a",))
    assert row is not None and row[0] == 7
    assert await db.fetchone("SELECT n FROM items WHERE name = 'none'") is None
    assert [tuple(r) for r in await db.fetchall("SELECT name, n FROM items")] == [("a", 7)]
