"""The servers under test, each started as its own process pinned to one core.

* ``gateway``: ``python -m gateway run`` on a copy of the benchmark database,
  as deployed (default settings, JSON logs at info level to a file);
* ``bare``: :mod:`bench.bare_server`, the ceiling of the stack;
* ``ocpp``: :mod:`bench.ocpp_server`, the ``ocpp`` package as documented.

``taskset -c CPU`` pins a server when ``taskset`` (util-linux) exists; the
generator pins itself with ``os.sched_setaffinity``. Without taskset the
run goes on unpinned and says so.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

TASKSET = shutil.which("taskset")


def pinned(command: list[str], cpu: int | None) -> list[str]:
    if cpu is None or TASKSET is None:
        return command
    return [TASKSET, "-c", str(cpu), *command]


@dataclass
class Target:
    name: str
    process: asyncio.subprocess.Process
    url: str
    log: IO[Any]
    http_port: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.process.pid

    async def stop(self, timeout: float = 30.0) -> int | None:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), timeout)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        self.log.close()
        return self.process.returncode


async def start_gateway(
    database: Path, log_path: Path, cpu: int | None, *, timeout: float = 180.0
) -> Target:
    """Start the gateway and wait for its ``gateway started`` log line (ports in it)."""
    env = {**os.environ, "OCPP_GATEWAY_LOG__FORMAT": "json"}
    command = [
        sys.executable,
        *("-m", "gateway", "--database", str(database), "run"),
        *("--ocpp-host", "127.0.0.1", "--ocpp-port", "0", "--http-port", "0"),
    ]
    log = log_path.open("w+b")
    process = await asyncio.create_subprocess_exec(
        *pinned(command, cpu), stdout=asyncio.subprocess.DEVNULL, stderr=log, env=env
    )
    deadline = time.monotonic() + timeout
    with log_path.open("rb") as reader:
        while time.monotonic() < deadline:
            line = reader.readline()
            if not line:
                if process.returncode is not None:
                    raise RuntimeError(f"the gateway exited; see {log_path}")
                await asyncio.sleep(0.1)
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("event") == "gateway started":
                url = f"ws://127.0.0.1:{entry['ocpp_port']}"
                return Target("gateway", process, url, log, entry["http_port"])
    process.kill()
    await process.wait()
    raise RuntimeError(f"the gateway did not start within {timeout:.0f} s; see {log_path}")


async def start_reference(name: str, module: str, log_path: Path, cpu: int | None) -> Target:
    """Start a reference server and read the port it prints."""
    log = log_path.open("w+b")
    process = await asyncio.create_subprocess_exec(
        *pinned([sys.executable, "-m", module, "--port", "0"], cpu),
        stdout=asyncio.subprocess.PIPE,
        stderr=log,
    )
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 30)
    if not line:
        raise RuntimeError(f"{module} exited; see {log_path}")
    port = json.loads(line)["port"]
    return Target(name, process, f"ws://127.0.0.1:{port}", log)
