"""A committed admin change always reaches the cache, even when the caller is cancelled
(an HTTP client hanging up mid-request)."""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from gateway.members.service import AdminContext
from gateway.store.database import Database


async def test_a_cancelled_caller_still_gets_its_change_committed_and_refreshed(
    tmp_path: Path,
) -> None:
    db = Database(tmp_path / "gw.sqlite3")
    await db.open()
    refreshed: list[Collection[int] | None] = []
    write_started = asyncio.Event()

    async def refresh(member_ids: Collection[int] | None) -> None:
        await asyncio.sleep(0.05)
        refreshed.append(member_ids)

    async def op(conn: Any, now: datetime) -> int:
        write_started.set()
        await conn.execute(
            "INSERT INTO organisations (name, created_at) VALUES ('Cancelled', ?)", (str(now),)
        )
        return 1

    ctx = AdminContext(db, lambda: datetime.now(UTC), refresh=refresh)
    caller = asyncio.create_task(ctx.change(op, refresh=[7]))
    await write_started.wait()
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    for _ in range(100):
        if refreshed:
            break
        await asyncio.sleep(0.01)
    try:
        assert refreshed == [[7]]
        assert await db.fetchone("SELECT 1 FROM organisations WHERE name = 'Cancelled'")
    finally:
        await db.close()
