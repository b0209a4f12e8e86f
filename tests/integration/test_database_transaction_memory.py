"""TransactionEvent written against what the store remembers of its transaction.

The handler judges an event from :meth:`TransactionStore.open_201` (no read
before the write); the write checks that against the row. Random event
sequences, with the memory sometimes wrong on purpose, must give the same rows
and outcomes as the reference (read, then write), and a write whose
expectation was stale must change nothing.
"""

from __future__ import annotations

import random
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway.store import transactions as transactions_module
from gateway.store.database import Database
from gateway.store.transactions import (
    Authorization,
    EventOutcome,
    Known201,
    Stale,
    TransactionStore,
)
from tests.integration.test_database_transaction_rows import (
    TARIFF,
    random_events,
    reference_event,
)

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
TABLES = ("transactions", "transaction_events", "meter_values")


async def _rows(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    return {
        table: [tuple(r) for r in await db.fetchall(f"SELECT * FROM {table} ORDER BY id")]
        for table in TABLES
    }


def _event(uid: str, seq_no: int, event_type: str, token: str | None = None) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "eventType": event_type,
        "timestamp": "2026-11-23T08:00:00Z",
        "triggerReason": "MeterValuePeriodic",
        "seqNo": seq_no,
        "transactionInfo": {"transactionId": uid},
        "meterValue": [{"timestamp": "2026-11-23T08:00:00Z", "sampledValue": [{"value": 10.0}]}],
    }
    if token is not None:
        payload["idToken"] = {"idToken": token, "type": "ISO14443"}
    return payload


AUTH = Authorization("Accepted", "ok", 7, False)


async def _write(
    store: TransactionStore, payload: dict[str, Any], **check: Any
) -> EventOutcome | Stale:
    auth = AUTH if "idToken" in payload else None
    response = {"idTokenInfo": {"status": "Accepted"}} if auth else {}
    return await store.transaction_event("CP", payload, NOW, auth, response, NOW, TARIFF, **check)


async def test_events_written_against_the_memory_match_the_reference(tmp_path: Path) -> None:
    rng = random.Random(2611)
    new_db, ref_db = Database(tmp_path / "new.sqlite3"), Database(tmp_path / "ref.sqlite3")
    await new_db.open()
    await ref_db.open()
    store, ref_store = TransactionStore(new_db), TransactionStore(ref_db)
    stale = 0
    try:
        for i, payload in enumerate(random_events(rng, 400)):
            at = NOW + timedelta(seconds=i)
            timestamp = datetime.fromisoformat(payload["timestamp"].replace("Z", "+00:00"))
            uid = payload["transactionInfo"]["transactionId"]
            auth = None
            if "idToken" in payload:
                auth = Authorization("Accepted", "ok", rng.choice([None, 7]), False)
            response = {"idTokenInfo": {"status": "Accepted"}} if auth else {}
            actual = await ref_store.find_201("CP", uid)
            expect = store.open_201("CP", uid)
            if rng.random() < 0.2:  # the memory wrong (or forgotten) on purpose
                expect = rng.choice([None, Known201(1, False), Known201(1, True), actual])
            before = await _rows(new_db)
            got = await store.transaction_event(
                "CP", payload, timestamp, auth, response, at, TARIFF, check=True, expect=expect
            )
            if isinstance(got, Stale):
                stale += 1
                assert got.actual == actual != expect
                assert await _rows(new_db) == before  # nothing written
                got = await store.transaction_event(
                    "CP", payload, timestamp, auth, response, at, TARIFF, expect=got.actual
                )

            def ref_op(
                db: sqlite3.Connection,
                payload: dict[str, Any] = payload,
                timestamp: datetime = timestamp,
                auth: Authorization | None = auth,
                response: dict[str, Any] = response,
                at: datetime = at,
            ) -> EventOutcome:
                return reference_event(db, "CP", payload, timestamp, auth, response, at, TARIFF)

            assert got == await ref_db.write_sync(ref_op), payload
        assert await _rows(new_db) == await _rows(ref_db)
        assert stale > 20
    finally:
        await new_db.close()
        await ref_db.close()


async def test_the_store_remembers_open_transactions_only(tmp_path: Path) -> None:
    db = Database(tmp_path / "db.sqlite3")
    await db.open()
    store = TransactionStore(db)
    try:
        started = await _write(store, _event("a", 0, "Started"))
        assert isinstance(started, EventOutcome)
        assert store.open_201("CP", "a") == Known201(started.transaction_id, False)
        await _write(store, _event("a", 1, "Updated", token="T"))
        assert store.open_201("CP", "a") == Known201(started.transaction_id, True)
        assert await store.find_201("CP", "a") == store.open_201("CP", "a")
        await _write(store, _event("a", 2, "Ended"))
        assert store.open_201("CP", "a") is None
        assert await store.find_201("CP", "a") == Known201(started.transaction_id, True)
        assert await store.find_201("CP", "nothing") is None
    finally:
        await db.close()


async def test_a_stale_expectation_of_a_repeated_event_gets_its_first_answer(
    tmp_path: Path,
) -> None:
    db = Database(tmp_path / "db.sqlite3")
    await db.open()
    store = TransactionStore(db)
    try:
        first = await _write(store, _event("a", 0, "Started", token="T"))
        assert isinstance(first, EventOutcome)
        store._open_201.clear()  # as after a restart
        again = await _write(store, _event("a", 0, "Started", token="T"), check=True, expect=None)
        assert isinstance(again, EventOutcome)
        assert again.duplicate_response == {"idTokenInfo": {"status": "Accepted"}}
        assert store.open_201("CP", "a") == Known201(first.transaction_id, True)
    finally:
        await db.close()


async def test_the_memory_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transactions_module, "_OPEN_201_MAX", 3)
    db = Database(tmp_path / "db.sqlite3")
    await db.open()
    store = TransactionStore(db)
    try:
        for uid in "abcde":
            await _write(store, _event(uid, 0, "Started"))
        remembered = [uid for uid in "abcde" if store.open_201("CP", uid) is not None]
        assert remembered == ["c", "d", "e"]  # the oldest forgotten first
        # forgotten is only slower: the write checks against the row
        outcome = await _write(store, _event("a", 1, "Ended"), check=True, expect=None)
        assert isinstance(outcome, Stale) and outcome.actual is not None
    finally:
        await db.close()
