"""Bulk imports beside chargers: the upload limit (413 with a message), an import written in
chunks leaves exactly what one chunk leaves (members, badges, groups, audit), and an import
running while chargers do durable sessions loses nothing on either side."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.bulk_work import ThreadWorker
from gateway.config import AdminSettings
from gateway.members.csv_sync import MemberSync
from gateway.members.service import Actor, AdminContext, MemberService
from gateway.store.database import Database
from simulators import ChargePoint16
from tests.conftest import PASSWORDS, Harness, StartGateway

HEADER = "identifier,first_name,last_name,email,phone,role,status,groups,tokens,valid_until\n"
OWNER = ",Olivia,Owner,owner@acme.test,,Owner,,,,\n"


@pytest.fixture
async def small_chunks(start_gateway: StartGateway) -> Harness:
    """A gateway whose imports take 128 KiB at most and write 40 rows per transaction."""
    return await start_gateway(
        admin=AdminSettings(import_max_bytes=128 * 1024, import_chunk_rows=40)
    )


async def acme(harness: Harness) -> tuple[int, httpx.AsyncClient]:
    org_id, _, token = await harness.gateway.admin.members.create_organisation(
        "Acme", "owner@acme.test", first_name="Olivia", last_name="Owner"
    )
    client = httpx.AsyncClient(
        base_url=f"{harness.http}/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=60
    )
    return org_id, client


async def test_a_file_past_the_configured_size_gets_413_with_a_message(
    small_chunks: Harness,
) -> None:
    org_id, client = await acme(small_chunks)
    big = (HEADER + OWNER + ",A,B,a@acme.test,,,,,,\n" * 6000).encode()
    assert len(big) > 128 * 1024
    async with client:
        answer = await client.post(
            "/members/import", content=big, headers={"Content-Type": "text/csv"}
        )
        assert answer.status_code == 413
        assert answer.json()["field"] == "file"
        assert "larger than 131,072 bytes" in answer.json()["error"]

        async def streamed() -> AsyncIterator[bytes]:  # no Content-Length: counted as it comes
            for start_at in range(0, len(big), 8192):
                yield big[start_at : start_at + 8192]

        answer = await client.post(
            "/members/import", content=streamed(), headers={"Content-Type": "text/csv"}
        )
        assert answer.status_code == 413 and answer.json()["field"] == "file"
        small = await client.post(
            "/members/import",
            content=HEADER + OWNER + ",A,B,a@acme.test,,,,,,\n",
            headers={"Content-Type": "text/csv"},
        )
        assert small.status_code == 200, small.text
    rows = await small_chunks.db_rows(
        "SELECT count(*) AS n FROM audit_log"
        " WHERE action = 'member.import' AND organisation_id = ?",
        org_id,
    )
    assert rows == [{"n": 1}]  # only the file within the limit was imported


def test_rows_and_cells_past_the_limits_refuse_the_file() -> None:
    from gateway.members.sync_table import MAX_COLUMNS, TableError, read_table

    with pytest.raises(TableError) as refused:
        read_table((HEADER + OWNER * 5).encode(), "csv", max_rows=4)
    assert refused.value.error.line == 6 and "more than 4 rows" in refused.value.error.message
    assert len(read_table((HEADER + OWNER * 4).encode(), "csv", max_rows=4).rows) == 4
    wide = HEADER + OWNER.rstrip("\n") + "," * MAX_COLUMNS + "x\n"
    with pytest.raises(TableError) as refused:
        read_table(wide.encode(), "csv")
    assert (
        refused.value.error.line == 2 and f"more than {MAX_COLUMNS}" in refused.value.error.message
    )


# -- chunks change nothing ---------------------------------------------------------------------

FIRST = (
    HEADER
    + OWNER
    + "ann,Ann,Alpha,ann@acme.test,,Manager,,Drivers;Night,ANN-1;ANN-2,\n"
    + "bob,Bob,Beta,bob@acme.test,+33 1 23,,,Drivers,BOB-1,2030-06-30\n"
    + "cy,Cy,Gamma,cy@acme.test,,,,Night,CY-1,\n"
    + "".join(f",F{n},L{n},m{n}@acme.test,,,,G{n % 3},M-{n},\n" for n in range(30))
)
SECOND = (
    HEADER
    + OWNER
    # Ann gives ANN-2 up, Bob takes it; Ann leaves Night; Cy is absent (deactivated).
    + "ann,Ann,Alpha,ann@acme.test,,Manager,,Drivers,ANN-1,\n"
    + "bob,Bob,Beta,bob.new@acme.test,,Administrator,,Drivers;Day,BOB-1;ANN-2,\n"
    + "".join(
        f",F{n},L{n},m{n}@acme.test,,,,G{(n + 1) % 4},M-{n};N-{n},\n" for n in range(0, 30, 2)
    )
    + "".join(f",N{n},New{n},n{n}@acme.test,,,Inactive,Fresh,X-{n},\n" for n in range(25))
)
TABLES = ("members", "tokens", "groups", "member_groups")


async def imported(folder: Path, chunk_rows: int) -> dict[str, list[tuple[Any, ...]]]:
    """Both files imported, in a fresh database, at a fixed instant; every table they touch."""
    db = Database(folder / "gateway.sqlite3")
    await db.open()
    try:
        instant = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
        ctx = AdminContext(
            db, lambda: instant, AdminSettings(import_chunk_rows=chunk_rows), worker=ThreadWorker()
        )
        org_id, _, _ = await MemberService(ctx).create_organisation("Acme", "owner@acme.test")
        actor = Actor.command_line(org_id)
        for body in (FIRST, SECOND):
            result = await MemberSync(ctx).import_members(actor, body.encode(), "text/csv")
            assert result.status == 200, result.body()
        tables = {}
        for table in TABLES:
            rows = await db.fetchall(f"SELECT * FROM {table} ORDER BY 1, 2")
            tables[table] = [tuple(row) for row in rows]
        audit = await db.fetchall(
            "SELECT * FROM audit_log WHERE action LIKE 'member.import%' ORDER BY id"
        )
        tables["audit_log"] = [tuple(row) for row in audit]
        return tables
    finally:
        await db.close()


async def test_an_import_written_in_chunks_leaves_what_one_chunk_leaves(tmp_path: Path) -> None:
    whole = await imported(tmp_path / "whole", 1_000_000)
    assert len(whole["audit_log"]) > 80 and len(whole["tokens"]) > 60
    assert {row[4] for row in whole["audit_log"]} >= {
        "member.import", "member.import.add", "member.import.update", "member.import.deactivate",
    }  # fmt: skip
    for size in (1, 7):
        assert await imported(tmp_path / f"by{size}", size) == whole


# -- chargers beside an import ----------------------------------------------------------------


async def test_an_import_beside_charger_sessions_loses_nothing_on_either_side(
    small_chunks: Harness,
) -> None:
    """Chargers keep doing durable sessions and Heartbeats while a 2,000-row import is written
    in 40-row chunks: their writes go between the chunks (some are answered while the import
    is half written), every acknowledged session is stored, and the import is whole."""
    gw = small_chunks.gateway
    org_id, client = await acme(small_chunks)
    count = 2000
    body = HEADER + OWNER
    body += "".join(f",F{n},L{n},m{n}@acme.test,,,,Drivers,B-{n},\n" for n in range(count))
    importing = asyncio.Event()
    importing.set()
    sessions: dict[int, int] = {}
    between: list[int] = []

    async def half_written() -> bool:
        row = await gw.db.fetchone(
            "SELECT (SELECT count(*) FROM members WHERE organisation_id = ?),"
            " (SELECT count(*) FROM audit_log WHERE action = 'member.import')",
            (org_id,),
        )
        assert row is not None
        return bool(1 < row[0] and row[1] == 0)

    async def charger(cpid: str, rounds_after: int) -> None:
        async with ChargePoint16(cpid, url=small_chunks.url, password=PASSWORDS[cpid]) as cp:
            await cp.boot()
            done = 0
            while importing.is_set() or done < rounds_after:
                started = await cp.start_transaction(1, "TAG-OK", 1000)
                tx = started["transactionId"]
                await cp.meter_values(1, transaction_id=tx, energy_wh=1500)
                await cp.heartbeat()
                await cp.stop_transaction(tx, 2000 + tx)
                sessions[tx] = 2000 + tx
                if await half_written():
                    between.append(tx)
                done += 0 if importing.is_set() else 1

    chargers = [asyncio.create_task(charger(cpid, 2)) for cpid in ("CP16", "CPX")]
    try:
        async with client:
            answer = await client.post(
                "/members/import", content=body, headers={"Content-Type": "text/csv"}
            )
    finally:
        importing.clear()
        await asyncio.gather(*chargers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["counts"]["added"] == count
    assert between, "no charger write was answered while the import was being written"

    stored = await small_chunks.db_rows(
        "SELECT id, meter_stop_wh, state FROM transactions WHERE charge_point_id IN ('CP16', 'CPX')"
    )
    assert {r["id"]: r["meter_stop_wh"] for r in stored} == sessions
    assert {r["state"] for r in stored} == {"Ended"}
    meters = await small_chunks.db_rows(
        "SELECT count(DISTINCT transaction_id) AS n FROM meter_values WHERE charge_point_id IN"
        " ('CP16', 'CPX')"
    )
    assert meters == [{"n": len(sessions)}]
    totals = await small_chunks.db_rows(
        "SELECT (SELECT count(*) FROM members WHERE organisation_id = ?) AS members,"
        " (SELECT count(*) FROM tokens t JOIN members m ON m.id = t.member_id"
        "   WHERE m.organisation_id = ?) AS tokens,"
        " (SELECT count(*) FROM audit_log WHERE organisation_id = ?"
        "   AND action = 'member.import.add') AS added",
        org_id,
        org_id,
        org_id,
    )
    assert totals == [{"members": count + 1, "tokens": count, "added": count}]
