"""Charger passwords (OCPP Security Profile 1: HTTP Basic auth).

Passwords are stored only as salted scrypt hashes:
``scrypt$<n>$<r>$<p>$<salt b64>$<hash b64>``.

OCPP 2.0.1 ``BasicAuthPassword`` is a UTF-8 string; the OCPP 1.6 security
whitepaper's ``AuthorizationKey`` is 20 raw bytes that some chargers send as
is and others send hex-encoded. :func:`candidates` yields every form a
received password may stand for, so either configuration works.

A slow hash makes every handshake cost ~50 ms of CPU. :class:`VerifiedCache`
remembers, per charger, an HMAC (keyed with a per-process random key) of the
last password that verified, so a reconnecting charger costs microseconds and
a reconnect storm does not turn into a CPU storm. Nothing secret is persisted.

The first connection of every charger after a restart still costs one hash
each: :class:`PasswordVerifier` runs them in worker threads at a lower CPU
priority (``nice`` +10), so that while thousands of chargers come back, the
event loop keeps answering those already connected (their BootNotification
first) instead of sharing the core evenly with the hashing. Checks waiting
for a thread take turns by remote address, so a burst from one address (at
most ``auth_failure_limit`` checks: see ``FailureThrottle``) queues behind
itself, not in front of other addresses' chargers.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import secrets
import threading
from collections import OrderedDict, deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

_N, _R, _P, _DKLEN = 2**14, 8, 1, 32
_MAXMEM = 64 * 1024 * 1024


def hash_password(password: str | bytes, *, n: int = _N) -> str:
    raw = password.encode() if isinstance(password, str) else password
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(raw, salt=salt, n=n, r=_R, p=_P, dklen=_DKLEN, maxmem=_MAXMEM)
    b64 = base64.b64encode
    return f"scrypt${n}${_R}${_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(stored: str, password: bytes) -> bool:
    """Check ``password`` (as received) against a stored hash; constant-time compare."""
    try:
        scheme, n, r, p, salt_b64, digest_b64 = stored.split("$")
        if scheme != "scrypt":
            return False
        salt, expected = base64.b64decode(salt_b64), base64.b64decode(digest_b64)
        for candidate in candidates(password):
            digest = hashlib.scrypt(
                candidate,
                salt=salt,
                n=int(n),
                r=int(r),
                p=int(p),
                dklen=len(expected),
                maxmem=_MAXMEM,
            )
            if hmac.compare_digest(digest, expected):
                return True
    except (ValueError, TypeError):
        return False
    return False


def candidates(password: bytes) -> Iterator[bytes]:
    """The received password, then its hex forms when it is a 20-byte 1.6 AuthorizationKey."""
    yield password
    if len(password) == 20:
        yield password.hex().encode()
        yield password.hex().upper().encode()


class VerifiedCache:
    """Per-charger memory of the last password that verified against a stored hash."""

    def __init__(self, max_entries: int = 200_000) -> None:
        self._key = secrets.token_bytes(32)
        self._entries: OrderedDict[str, tuple[str, bytes]] = OrderedDict()
        self._max = max_entries

    def _mac(self, password: bytes) -> bytes:
        return hmac.new(self._key, password, hashlib.sha256).digest()

    def check(self, identity: str, stored: str, password: bytes) -> bool:
        entry = self._entries.get(identity)
        if entry is None or entry[0] != stored:
            return False
        return hmac.compare_digest(entry[1], self._mac(password))

    def remember(self, identity: str, stored: str, password: bytes) -> None:
        self._entries[identity] = (stored, self._mac(password))
        self._entries.move_to_end(identity)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)


def _lower_priority(increment: int) -> None:
    """Lower the calling thread's CPU priority (Linux: niceness is per thread)."""
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + increment)
    except (AttributeError, OSError):  # not Linux, or not allowed: normal priority
        pass


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class PasswordVerifier:
    """:func:`verify_password` in worker threads (one per usable CPU) at a lower priority.

    At most one check per thread runs; the others wait for their turn, given
    to the waiting addresses in rotation (each address's own checks in order).
    """

    def __init__(self, *, workers: int | None = None, nice: int = 10) -> None:
        self._workers = workers or _usable_cpus()
        self._executor = ThreadPoolExecutor(
            max_workers=self._workers,
            thread_name_prefix="password-check",
            initializer=_lower_priority,
            initargs=(nice,),
        )
        self._running = 0
        self._waiting: OrderedDict[str, deque[asyncio.Future[None]]] = OrderedDict()

    async def verify(self, stored: str, password: bytes, source: str = "") -> bool:
        """Whether ``password`` matches ``stored``; ``source`` is the remote address."""
        await self._turn(source)
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, verify_password, stored, password)
        finally:
            self._running -= 1
            self._next()

    async def _turn(self, source: str) -> None:
        if self._running < self._workers and not self._waiting:
            self._running += 1
            return
        turn = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(source, deque()).append(turn)
        try:
            await turn  # given by _next, which counted it as running
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():  # given, then cancelled: pass it on
                self._running -= 1
                self._next()
            raise  # a cancelled turn still queued is skipped by _next

    def _next(self) -> None:
        while self._running < self._workers and self._waiting:
            source, turns = next(iter(self._waiting.items()))
            turn = turns.popleft()
            if turns:
                self._waiting.move_to_end(source)  # the next address's turn
            else:
                del self._waiting[source]
            if not turn.done():
                turn.set_result(None)
                self._running += 1

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
