"""Storage faults under a running gateway: never an Accepted for work that was not stored.

Each fault is made for real on the gateway's own files (directory deleted, files
immutable or read-only, pages exhausted, writes failing with EFBIG, the -shm
unwritable). What must hold every time: the CALL whose write is not stored gets
no answer and its connection is closed with 1013, new handshakes get 503,
``/readyz`` is 503 with the reason, the fault is counted and logged once at error
level, and the gateway takes work again by itself once the fault is cleared.
"""

from __future__ import annotations

import asyncio
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs
from websockets.exceptions import ConnectionClosed, InvalidStatus

from simulators import ChargePoint16, ChargePoint201
from tests.adversity.test_crash_and_shutdown import register
from tests.conftest import PASSWORDS, Harness, StartGateway, spawn_gateway
from tests.integration.admin.conftest import make_org

FAST_PROBE = {"health_interval": 0.05}
FAULT_LOGGED = "database cannot take durable writes; chargers are asked to come back later"


async def readiness(http: str) -> tuple[int, dict[str, Any]]:
    async with httpx.AsyncClient(base_url=http) as client:
        answer = await client.get("/readyz")
    return answer.status_code, answer.json()


async def wait_readiness(http: str, status: int) -> dict[str, Any]:
    """Poll /readyz until it answers ``status`` (bounded: 10 s)."""
    async with asyncio.timeout(10):
        while True:
            code, body = await readiness(http)
            if code == status:
                return body
            await asyncio.sleep(0.05)


async def metric_lines(http: str) -> list[str]:
    async with httpx.AsyncClient(base_url=http) as client:
        return (await client.get("/metrics")).text.splitlines()


def db_files(path: Path) -> list[Path]:
    return [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]


@contextmanager
def unwritable(*paths: Path) -> Iterator[None]:
    """Files the gateway cannot write: immutable for root (who ignores modes), else 0400."""
    root = os.geteuid() == 0
    for path in paths:
        if root:
            subprocess.run(["chattr", "+i", str(path)], check=True)
        else:
            path.chmod(0o400)
    try:
        yield
    finally:
        for path in paths:
            if root:
                subprocess.run(["chattr", "-i", str(path)], check=True)
            else:
                path.chmod(0o600)


async def refused_handshake(url: str, cpid: str) -> InvalidStatus:
    cp = ChargePoint16(cpid, url=url, password=PASSWORDS.get(cpid, "crash-test-password"))
    with pytest.raises(InvalidStatus) as refused:
        await cp.connect()
    return refused.value


async def assert_closed_unanswered(cp: ChargePoint16 | ChargePoint201, call: Any) -> None:
    """The CALL gets no answer: the gateway closes with 1013 (Try Again Later)."""
    with pytest.raises(ConnectionClosed):
        await call
    assert await cp.wait_closed() == 1013


async def test_deleted_directory_refuses_durable_work_until_the_file_is_put_back(
    start_gateway: StartGateway, tmp_path: Path
) -> None:
    gw = await start_gateway(database=FAST_PROBE)
    path = gw.gateway.settings.database.path
    cp = ChargePoint16("CP16", url=gw.url, password=PASSWORDS["CP16"])
    await cp.connect()
    await cp.boot()
    first = await cp.start_transaction(1, "TAG-OK", 0, timestamp="2026-11-23T08:00:00Z")
    assert first["idTagInfo"]["status"] == "Accepted"
    backup = tmp_path / "backup.sqlite3"
    with sqlite3.connect(path) as source, sqlite3.connect(backup) as copy:
        source.backup(copy)

    with capture_logs() as logs:
        shutil.rmtree(path.parent)
        start = cp.start_transaction(2, "TAG-OK", 0, timestamp="2026-11-23T09:00:00Z")
        await assert_closed_unanswered(cp, start)
        body = await wait_readiness(gw.http, 503)
        refused = await refused_handshake(gw.url, "CP16")
        await asyncio.sleep(0.3)  # several probes while the fault lasts: still one log line
    assert body["checks"]["database"] is False
    assert body["reasons"]["database"].startswith("missing: ")
    assert refused.response.status_code == 503
    assert refused.response.headers["Retry-After"] == "30"
    errors = [e for e in logs if e["log_level"] == "error"]
    assert [e["event"] for e in errors] == [FAULT_LOGGED]
    assert errors[0]["fault"] == "missing"
    lines = await metric_lines(gw.http)
    assert 'ocpp_gateway_storage_faults_total{kind="missing"} 1.0' in lines
    assert "ocpp_gateway_storage_writable 0.0" in lines

    path.parent.mkdir()
    shutil.copy(backup, path)
    await wait_readiness(gw.http, 200)
    async with ChargePoint16("CP16", url=gw.url, password=PASSWORDS["CP16"]) as cp:
        again = await cp.start_transaction(2, "TAG-OK", 0, timestamp="2026-11-23T09:00:00Z")
    assert again["idTagInfo"]["status"] == "Accepted"
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT id FROM transactions ORDER BY id").fetchall()
    assert rows == [(first["transactionId"],), (again["transactionId"],)]
    assert "ocpp_gateway_storage_writable 1.0" in await metric_lines(gw.http)


async def test_read_only_files_refuse_durable_work_and_recover(gw_fast: Harness) -> None:
    gw = gw_fast
    path = gw.gateway.settings.database.path
    org = await make_org(gw, "Acme", "owner@acme.test")
    cs = ChargePoint201("CP201", url=gw.url, password=PASSWORDS["CP201"])
    await cs.connect()
    await cs.boot()
    with unwritable(*db_files(path)[:2]):
        body = await wait_readiness(gw.http, 503)
        assert body["reasons"]["database"].startswith("read_only: ")
        async with org.owner as owner:
            edit = await owner.patch(f"/members/{org.owner_id}", json={"first_name": "Olga"})
        assert edit.status_code == 503
        assert edit.json()["error"].startswith("the database cannot take writes now (read_only")
        assert (await cs.authorize("TAG-OK"))["idTokenInfo"]["status"] == "Accepted"
        await assert_closed_unanswered(cs, cs.start_transaction("TAG-OK", transaction_id="ro-1"))
        assert (await refused_handshake(gw.url, "CP201")).response.status_code == 503
    await wait_readiness(gw.http, 200)
    async with ChargePoint201("CP201", url=gw.url, password=PASSWORDS["CP201"]) as cs:
        _, answer = await cs.start_transaction("TAG-OK", transaction_id="ro-1")
    assert answer["idTokenInfo"]["status"] == "Accepted"
    rows = await gw.db_rows(
        "SELECT count(*) AS n FROM transaction_events WHERE transaction_uid = 'ro-1'"
    )
    assert rows == [{"n": 1}]


@pytest.fixture
async def gw_fast(start_gateway: StartGateway) -> Harness:
    """A gateway that looks at its database every 50 ms."""
    return await start_gateway(database=FAST_PROBE)


def _big_meter_value(wh: int) -> list[dict[str, Any]]:
    """One MeterValue of 400 samples (about 30 KB stored: several pages)."""
    samples = [
        {"value": str(wh + i), "measurand": "Energy.Active.Import.Register", "unit": "Wh"}
        for i in range(400)
    ]
    return [{"timestamp": "2026-11-23T08:05:00Z", "sampledValue": samples}]


async def test_full_database_refuses_meter_values_it_cannot_store_and_recovers(
    start_gateway: StartGateway,
) -> None:
    limit = 4 * 1024 * 1024
    gw = await start_gateway(database={**FAST_PROBE, "max_bytes": limit})
    path = gw.gateway.settings.database.path
    # Ballast written by another connection: the database 12 pages short of its reserve.
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE ballast (b BLOB)")
        (page_size,) = db.execute("PRAGMA page_size").fetchone()
        target = limit // page_size - 16 - 12
        while True:
            (count,) = db.execute("PRAGMA page_count").fetchone()
            (free,) = db.execute("PRAGMA freelist_count").fetchone()
            if count - free >= target:
                break
            size = min(64, target - (count - free)) * (page_size - 100)
            db.execute("INSERT INTO ballast VALUES (zeroblob(?))", (size,))
            db.commit()
    await wait_readiness(gw.http, 200)
    cp = ChargePoint16("CP16", url=gw.url, password=PASSWORDS["CP16"])
    await cp.connect()
    await cp.boot()
    tx = (await cp.start_transaction(1, "TAG-OK", 0, timestamp="2026-11-23T08:00:00Z"))[
        "transactionId"
    ]
    acknowledged = 0
    with pytest.raises(ConnectionClosed):
        for n in range(40):  # bounded: 12 pages take a handful of these
            await cp.meter_values(1, transaction_id=tx, meter_value=_big_meter_value(n))
            acknowledged += 1
    assert await cp.wait_closed() == 1013
    assert 0 < acknowledged < 40
    body = await wait_readiness(gw.http, 503)
    assert body["reasons"]["database"].startswith("full: ")
    with sqlite3.connect(path) as db:
        (stored,) = db.execute(
            "SELECT count(*) FROM meter_values WHERE transaction_id = ?", (tx,)
        ).fetchone()
        assert stored == acknowledged  # every Accepted stored, nothing else
        db.execute("DELETE FROM ballast")
    await wait_readiness(gw.http, 200)
    async with ChargePoint16("CP16", url=gw.url, password=PASSWORDS["CP16"]) as cp:
        assert await cp.meter_values(1, transaction_id=tx, meter_value=_big_meter_value(99)) == {}
    assert 'ocpp_gateway_storage_faults_total{kind="full"} 1.0' in await metric_lines(gw.http)


async def test_write_errors_of_a_size_limited_file_refuse_work_until_lifted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RLIMIT_FSIZE on the gateway process: its writes past 1 KiB fail (EFBIG, SQLite's
    disk I/O error) as on a failing disk, until the limit is lifted again."""
    database = tmp_path / "gw.sqlite3"
    await register(database, "CP16", "crash-test-password")
    monkeypatch.setenv("OCPP_GATEWAY_DATABASE__HEALTH_INTERVAL", "0.1")
    gateway = await spawn_gateway(database)
    http = f"http://127.0.0.1:{gateway.http_port}"
    pid = gateway.process.pid
    _, hard = resource.prlimit(pid, resource.RLIMIT_FSIZE)
    try:
        cp = ChargePoint16("CP16", url=gateway.url, password="crash-test-password")
        await cp.connect()
        await cp.boot()
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (1024, hard))
        start = cp.start_transaction(1, "TAG-CP16", 0, timestamp="2026-11-23T08:00:00Z")
        await assert_closed_unanswered(cp, start)
        body = await wait_readiness(http, 503)
        assert body["reasons"]["database"].startswith("io_error: SQLITE_IOERR")
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (hard, hard))
        await wait_readiness(http, 200)
        async with ChargePoint16("CP16", url=gateway.url, password="crash-test-password") as cp:
            again = await cp.start_transaction(1, "TAG-CP16", 0, timestamp="2026-11-23T08:00:00Z")
        assert again["idTagInfo"]["status"] == "Accepted"
    finally:
        code = await gateway.terminate()
    assert code == 0
    errors = [e for e in gateway.logs if e.get("level") == "error"]
    assert [e["event"] for e in errors] == [FAULT_LOGGED]
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT count(*) FROM transactions").fetchone() == (1,)


async def test_an_unwritable_shm_is_refused_before_it_can_kill_the_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite writes the -shm through a shared mapping: written once immutable, the process
    dies of SIGBUS. The gateway sees it first (probe, and a look before every batch)."""
    database = tmp_path / "gw.sqlite3"
    await register(database, "CP16", "crash-test-password")
    monkeypatch.setenv("OCPP_GATEWAY_DATABASE__HEALTH_INTERVAL", "0.1")
    gateway = await spawn_gateway(database)
    http = f"http://127.0.0.1:{gateway.http_port}"
    try:
        cp = ChargePoint16("CP16", url=gateway.url, password="crash-test-password")
        await cp.connect()
        await cp.boot()
        with unwritable(db_files(database)[2]):
            body = await wait_readiness(http, 503)
            assert body["reasons"]["database"] == f"read_only: {database}-shm is not writable"
            start = cp.start_transaction(1, "TAG-CP16", 0, timestamp="2026-11-23T08:00:00Z")
            await assert_closed_unanswered(cp, start)
            async with httpx.AsyncClient(base_url=http) as client:
                assert (await client.get("/healthz")).status_code == 200
        await wait_readiness(http, 200)
    finally:
        code = await gateway.terminate()
    assert code == 0


async def test_a_fatal_signal_is_not_silent(tmp_path: Path) -> None:
    """Should SQLite's mapping of the -shm still fault, the traceback reaches stderr."""
    gateway = await spawn_gateway(tmp_path / "gw.sqlite3")
    gateway.process.send_signal(signal.SIGBUS)
    assert await asyncio.wait_for(gateway.process.wait(), 20) == -signal.SIGBUS
    await gateway.drain
    events = [str(e.get("event")) for e in gateway.logs]
    assert "Fatal Python error: Bus error" in events


async def test_database_files_are_readable_by_their_owner_only(gw: Harness, tmp_path: Path) -> None:
    """Created 0600 whatever the umask; a database left 0644 by an older version is
    tightened when opened."""
    async with ChargePoint16("CP16", url=gw.url, password=PASSWORDS["CP16"]) as cp:
        await cp.boot()
    for path in db_files(gw.gateway.settings.database.path):
        assert path.stat().st_mode & 0o777 == 0o600, path

    old = tmp_path / "old" / "gateway.sqlite3"
    old.parent.mkdir()
    sqlite3.connect(old).close()
    old.chmod(0o644)
    gateway = await spawn_gateway(old)
    try:
        assert old.stat().st_mode & 0o777 == 0o600
    finally:
        assert await gateway.terminate() == 0
    assert any(e.get("event", "").startswith("database file was readable") for e in gateway.logs)
