"""Fixtures: a real gateway on port 0 with a real SQLite file, in-process or as a process."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings

from gateway.app import Gateway, create_app
from gateway.config import (
    AdminSettings,
    DatabaseSettings,
    HttpSettings,
    LogSettings,
    OcppSettings,
    Settings,
)
from gateway.logs import configure_logging
from gateway.security.passwords import hash_password

# Hypothesis: derandomised in CI (each test draws the same examples on every run, so a
# failure there fails again on any machine); elsewhere random, with the reproduction blob
# printed on failure. HYPOTHESIS_PROFILE picks either.
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
hypothesis_settings.register_profile("dev", print_blob=True)
hypothesis_settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev")
)

PASSWORDS = {"CP16": "password-of-cp16", "CP201": "password-of-cp201", "CPX": "password-of-cpx!"}
GROUP = "ORG-GROUP"
ORGANISATION = "Test Org"


class MovableClock:
    """The gateway's clock in tests: real time plus an offset a test moves forward.

    Every in-process gateway of the fixtures runs on one, and the fixtures write
    their data at its time. ``make test-dates`` moves real time itself (libfaketime)
    to run the date-sensitive tests at chosen instants (month end, DST, year end).
    """

    def __init__(self) -> None:
        self.offset = timedelta()
        self.frozen: datetime | None = None

    def __call__(self) -> datetime:
        if self.frozen is not None:
            return self.frozen
        return datetime.now(UTC) + self.offset

    def freeze(self) -> datetime:
        """Stop the clock at its current instant (so a test knows the instant of a decision)."""
        self.frozen = self()
        return self.frozen


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


@dataclass
class Harness:
    """A started in-process gateway and helpers to give it data."""

    gateway: Gateway
    url: str
    http: str
    members: dict[str, int] = field(default_factory=dict)

    async def add_token(
        self,
        value: str,
        *,
        member_status: str = "Active",
        token_status: str = "Active",
        expires_at: datetime | None = None,
    ) -> int:
        gw = self.gateway
        now = gw.clock()
        org = await gw.members.ensure_organisation(ORGANISATION, now, group_token=GROUP)
        member = await gw.members.add_member(
            org,
            now,
            first_name=value,
            email=f"{value.lower()}@example.org",
            status=member_status,
        )
        await gw.members.add_token(value, member, now, status=token_status, expires_at=expires_at)
        await gw.reload_cache()
        self.members[value] = member
        return member

    async def db_rows(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        return [dict(r) for r in await self.gateway.db.fetchall(sql, params)]


def gateway_settings(
    tmp_path: Path, database: dict[str, Any] | None = None, **ocpp: Any
) -> Settings:
    return Settings(
        ocpp=OcppSettings(host="127.0.0.1", port=0, **ocpp),
        http=HttpSettings(host="127.0.0.1", port=0),
        database=DatabaseSettings(path=tmp_path / "gateway.sqlite3", **(database or {})),
        log=LogSettings(format="json", level="warning"),
    )


StartGateway = Callable[..., Awaitable[Harness]]


@pytest.fixture
async def start_gateway(tmp_path: Path, clock: MovableClock) -> AsyncIterator[StartGateway]:
    """Start gateways with chosen OCPP (and database) settings on the test's clock; each is
    stopped at the end."""
    configure_logging("json", "warning")
    started: list[Gateway] = []

    async def start(
        database: dict[str, Any] | None = None,
        *,
        admin: AdminSettings | None = None,
        **ocpp: Any,
    ) -> Harness:
        folder = tmp_path / f"gw{len(started)}"
        settings = gateway_settings(folder, database, **ocpp)
        if admin is not None:
            settings = settings.model_copy(update={"admin": admin})
        gw = create_app(settings, clock=clock)
        await gw.start()
        started.append(gw)
        now = clock()
        org = await gw.members.ensure_organisation(ORGANISATION, now, group_token=GROUP)
        for cpid, password in PASSWORDS.items():
            await gw.stations.add(cpid, hash_password(password, n=2**10), now, organisation_id=org)
        harness = Harness(gw, f"ws://127.0.0.1:{gw.ocpp_port}", f"http://127.0.0.1:{gw.http_port}")
        await harness.add_token("TAG-OK")
        return harness

    yield start
    for gw in started:
        await gw.stop()


@pytest.fixture
async def gw(start_gateway: StartGateway) -> Harness:
    return await start_gateway()


# -- a real gateway process -------------------------------------------------------------------


@dataclass
class GatewayProcess:
    process: asyncio.subprocess.Process
    ocpp_port: int
    http_port: int
    logs: list[dict[str, Any]]
    drain: asyncio.Task[None]

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.ocpp_port}"

    async def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()
        await self.drain

    async def terminate(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(self.process.wait(), 20)
        await self.drain
        return code


def cli(database: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "gateway", "--database", str(database), *args]


async def run_cli(database: Path, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *cli(database, *args), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def spawn_gateway(database: Path, *extra: str) -> GatewayProcess:
    """Run ``python -m gateway run`` on port 0 and read its ports from its JSON log."""
    env = {**os.environ, "OCPP_GATEWAY_LOG__FORMAT": "json"}
    proc = await asyncio.create_subprocess_exec(
        *cli(
            database,
            "run",
            "--ocpp-host",
            "127.0.0.1",
            "--ocpp-port",
            "0",
            "--http-port",
            "0",
            *extra,
        ),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    assert proc.stderr is not None
    logs: list[dict[str, Any]] = []
    started: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()

    async def drain() -> None:
        assert proc.stderr is not None
        async for line in proc.stderr:
            try:
                entry = json.loads(line)
            except ValueError:
                entry = {"event": line.decode(errors="replace").rstrip()}
            logs.append(entry)
            if entry.get("event") == "gateway started" and not started.done():
                started.set_result(entry)
        if not started.done():
            started.set_exception(RuntimeError(f"gateway exited: {logs[-5:]}"))

    task = asyncio.create_task(drain())
    entry = await asyncio.wait_for(started, 30)
    return GatewayProcess(proc, entry["ocpp_port"], entry["http_port"], logs, task)
