"""Bulk admin work off the event loop: parsing, checking and planning an import, writing an
export (see :mod:`gateway.members.sync_job`).

The gateway runs it in a worker process (:class:`ProcessWorker`): parsing a
100,000-row file is pure Python, and in a thread of the gateway's process it
would hold the interpreter lock the event loop needs, delaying every
charger's answer by up to the switch interval (5 ms) at each turn of the
loop. The worker reads the database itself (a read-only connection in WAL
mode sees every commit and blocks nobody) and hands back bytes: the report,
the export, the import's writes as pickled chunks, which the gateway only
unpickles one chunk at a time, inside the database thread.

The command line, whose only client is the operator, uses
:class:`ThreadWorker` (it can draw a progress bar).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Protocol, TypeVar

T = TypeVar("T")
WORKER_NICENESS = 10
"""The worker's scheduling priority below the gateway's: on a core shared with the event
loop, the loop gets the CPU first when both want it."""


class BulkWorker(Protocol):
    """Runs a synchronous function of picklable arguments somewhere other than the loop."""

    in_process: bool
    """True when ``fn`` runs in this process (it may take a progress callback)."""

    async def run(self, fn: Callable[..., T], /, *args: Any) -> T: ...

    def close(self) -> None: ...


class ThreadWorker:
    """In a thread of this process (the command line)."""

    in_process = True

    async def run(self, fn: Callable[..., T], /, *args: Any) -> T:
        return await asyncio.to_thread(fn, *args)

    def close(self) -> None:
        pass


class ProcessWorker:
    """In one worker process, started at the first job (``forkserver``: a fork of a small
    server process, never of the gateway's threads), at a lower priority
    (:data:`WORKER_NICENESS`), and kept until :meth:`close`."""

    in_process = False

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None

    async def run(self, fn: Callable[..., T], /, *args: Any) -> T:
        if self._pool is None:
            context = multiprocessing.get_context("forkserver")
            self._pool = ProcessPoolExecutor(
                max_workers=1, mp_context=context, initializer=_lower_priority
            )
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def close(self) -> None:
        """Stop the worker; a job still running is left to finish on its own, unread."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


def _lower_priority() -> None:
    """In the worker process, once: yield the CPU to the gateway's event loop."""
    os.nice(WORKER_NICENESS)
