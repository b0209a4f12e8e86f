"""Whether the database can take durable writes now, and what is wrong when it cannot.

A write that the gateway acknowledges must be on disk in the file that the
next start will open. That stops being true in ways SQLite reports (an error
on a write: read-only, disk full, I/O error) and in ways it does not: a file
unlinked or replaced while open keeps taking writes, into a file nobody will
ever open again. So the gateway looks at its files as well as at SQLite's
answers:

=============  ==================================================  ==========================
kind           seen as                                             cleared when
=============  ==================================================  ==========================
``missing``    the database file (or its directory) is gone        a file is there again
``replaced``   the path names another file than the one open       (the database is reopened)
``read_only``  SQLITE_READONLY / SQLITE_PERM, or the file, its     writable again
               ``-wal``/``-shm`` or the directory not writable
``full``       SQLITE_FULL, free space under ``min_free_bytes``,   room again
               or pages near ``max_bytes``
``io_error``   SQLITE_IOERR (and CANTOPEN, CORRUPT, NOTADB)        a test write succeeds
=============  ==================================================  ==========================

:class:`StoreFiles` is the look at the files (a few ``stat`` calls, done by
the writer after every commit and by the periodic probe);
:class:`StorageHealth` holds the current fault and reports each one once: an
error log line, ``ocpp_gateway_storage_faults_total{kind}`` and the gauge
``ocpp_gateway_storage_writable``.
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import structlog

from gateway.metrics import Metrics

log = structlog.get_logger("gateway.store")

FILE_MODE = 0o600
"""The database, its ``-wal`` and ``-shm``: password hashes and personal data."""
RETRY_AFTER_SECONDS = 30
"""What a client refused for want of storage is told to wait (handshakes, admin API)."""
RESERVE_PAGES = 16
"""Pages kept free under ``max_bytes``: a batch of charger writes needs a few."""


class FaultKind(StrEnum):
    MISSING = "missing"
    REPLACED = "replaced"
    READ_ONLY = "read_only"
    FULL = "full"
    IO_ERROR = "io_error"


@dataclass(frozen=True, slots=True)
class Fault:
    kind: FaultKind
    detail: str

    @property
    def reason(self) -> str:
        return f"{self.kind}: {self.detail}"


class StorageUnavailable(Exception):
    """The database cannot take durable writes now; nothing of the write was kept."""

    def __init__(self, fault: Fault) -> None:
        super().__init__(fault.reason)
        self.fault = fault


_KINDS = {
    sqlite3.SQLITE_READONLY: FaultKind.READ_ONLY,
    sqlite3.SQLITE_PERM: FaultKind.READ_ONLY,
    sqlite3.SQLITE_FULL: FaultKind.FULL,
    sqlite3.SQLITE_IOERR: FaultKind.IO_ERROR,
    sqlite3.SQLITE_CANTOPEN: FaultKind.IO_ERROR,
    sqlite3.SQLITE_CORRUPT: FaultKind.IO_ERROR,
    sqlite3.SQLITE_NOTADB: FaultKind.IO_ERROR,
}


def classify(exc: BaseException) -> Fault | None:
    """The storage fault an SQLite error stands for; None for errors of the statement
    itself (a constraint, a syntax error, a busy lock)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if not isinstance(exc, sqlite3.Error) or code is None:
        return None
    kind = _KINDS.get(code & 0xFF)
    if kind is None:
        return None
    return Fault(kind, f"{getattr(exc, 'sqlite_errorname', code)}: {exc}")


_Identity = tuple[int, int]


def _identity(path: Path) -> _Identity | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


class StoreFiles:
    """The database's files as they were opened, and what has become of them since."""

    def __init__(self, path: Path, min_free_bytes: int) -> None:
        self.path = path
        self.wal = path.with_name(path.name + "-wal")
        self.shm = path.with_name(path.name + "-shm")
        self._min_free = min_free_bytes
        self._opened: dict[Path, _Identity | None] = {}

    def create(self) -> None:
        """Create the database file readable by its owner only; tighten existing files."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(self.path, os.O_CREAT | os.O_RDWR, FILE_MODE))
        for path in (self.path, self.wal, self.shm):
            try:
                mode = os.stat(path).st_mode & 0o777
            except FileNotFoundError:
                continue
            if mode != FILE_MODE:
                os.chmod(path, FILE_MODE)
                log.warning(
                    "database file was readable by others; now owner only",
                    file=str(path),
                    mode=oct(mode),
                )

    def opened(self) -> None:
        """Remember which files the connections have open (after they opened them)."""
        self._opened = {p: _identity(p) for p in (self.path, self.wal)}

    def moved(self) -> Fault | None:
        """The database or its WAL unlinked or replaced since it was opened (two stats)."""
        for path, was in self._opened.items():
            now = _identity(path)
            if was is None:  # the WAL appears with the first transaction
                self._opened[path] = now
                continue
            if now is None:
                return Fault(FaultKind.MISSING, f"{path} no longer exists")
            if now != was:
                return Fault(FaultKind.REPLACED, f"{path} is not the file the gateway opened")
        return None

    def shm_unwritable(self) -> Fault | None:
        """SQLite writes the ``-shm`` through a shared mapping: a write to it once it cannot
        be written (immutable) kills the process with SIGBUS. Looked at before every batch."""
        if os.access(self.shm, os.W_OK) or not self.shm.exists():
            return None
        return Fault(FaultKind.READ_ONLY, f"{self.shm} is not writable")

    def reappeared(self) -> bool:
        """A database file is at the path again (restored by an operator)."""
        return _identity(self.path) is not None

    def inspect(self) -> Fault | None:
        """Everything that can be seen without writing: identity, permissions, free space."""
        fault = self.moved()
        if fault is not None:
            return fault
        for path in (self.path.parent, self.path, self.wal, self.shm):
            if path.exists() and not os.access(path, os.W_OK):
                return Fault(FaultKind.READ_ONLY, f"{path} is not writable")
        st = os.statvfs(self.path.parent)
        free = st.f_bavail * st.f_frsize
        if free < self._min_free:
            return Fault(FaultKind.FULL, f"{free} bytes free on its file system (min_free_bytes)")
        return None


def page_headroom(conn: sqlite3.Connection) -> Fault | None:
    """Full when the pages in use come within :data:`RESERVE_PAGES` of ``max_page_count``."""
    (count,) = conn.execute("PRAGMA page_count").fetchone()
    (free,) = conn.execute("PRAGMA freelist_count").fetchone()
    (limit,) = conn.execute("PRAGMA max_page_count").fetchone()
    if count - free + RESERVE_PAGES > limit:
        return Fault(FaultKind.FULL, f"{count - free} of {limit} pages in use (max_bytes)")
    return None


class StorageHealth:
    """The current fault, reported once per fault: log line, counter, gauge."""

    def __init__(self, metrics: Metrics | None) -> None:
        self._metrics = metrics
        self.fault: Fault | None = None
        self._since = 0.0
        if metrics is not None:
            metrics.storage_writable.set(1)

    def report(self, fault: Fault) -> None:
        if self.fault is not None and self.fault.kind is fault.kind:
            return
        self.fault = fault
        self._since = time.monotonic()
        if self._metrics is not None:
            self._metrics.storage_faults.labels(fault.kind.value).inc()
            self._metrics.storage_writable.set(0)
        log.error(
            "database cannot take durable writes; chargers are asked to come back later",
            fault=fault.kind.value,
            reason=fault.detail,
        )

    def clear(self) -> None:
        if self.fault is None:
            return
        log.warning(
            "database takes durable writes again",
            fault=self.fault.kind.value,
            seconds=round(time.monotonic() - self._since, 1),
        )
        self.fault = None
        if self._metrics is not None:
            self._metrics.storage_writable.set(1)
