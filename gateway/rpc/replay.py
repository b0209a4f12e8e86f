"""Answers kept per charger so that a retried CALL is answered without doing it twice.

OCPP-J lets a charger resend a CALL with the same message id after a lost
answer (typically across a reconnect). The same id with the same payload gets
the first answer again; the same id with another payload is a protocol error.
Entries live ``ttl`` seconds (monotonic clock), at most ``window`` per charger.
BootNotification starts a new message-id space: chargers that count ids from
1 after a reboot must not be mistaken for retries, so a boot clears the
charger's entries, and BootNotification is never replayed. Calls answered from
memory (``Handlers.immediate``: Authorize, Heartbeat...) have nothing durable to
do twice and never reach this cache.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway.rpc.frames import json_encoder

NEVER_REPLAYED = frozenset({"BootNotification"})


_canonical = json_encoder(sort_keys=True, ensure_ascii=True)


def payload_digest(action: str, payload: dict[str, Any]) -> bytes:
    """16 bytes that tell two payloads apart: BLAKE2b of the action and the canonical JSON
    (sorted keys, compact), so key order and spacing in a retry do not matter."""
    canonical = action + "\x00" + _canonical(payload)
    return hashlib.blake2b(canonical.encode(), digest_size=16).digest()


@dataclass(frozen=True, slots=True)
class Answer:
    digest: bytes
    frame: str
    expires: float


_Entry = tuple[bytes, str, float]
"""(digest, frame, expires): a plain tuple of atomic values, which the garbage collector
stops tracking, so that a busy network's hundreds of thousands of kept answers add
nothing to its full collections (the latency tail)."""


class ReplayCache:
    """At most ``window`` answers per charger, oldest evicted first, each for ``ttl`` seconds.

    Each charger's answers are a plain dict in insertion order (an answer put
    again moves to the end).
    """

    def __init__(self, window: int, ttl: float, clock: Callable[[], float]) -> None:
        self._window = window
        self._ttl = ttl
        self._clock = clock
        self._chargers: dict[str, dict[str, _Entry]] = {}

    def get(self, charge_point_id: str, message_id: str) -> Answer | None:
        answers = self._chargers.get(charge_point_id)
        if answers is None:
            return None
        entry = answers.get(message_id)
        if entry is None:
            return None
        if entry[2] <= self._clock():
            del answers[message_id]
            return None
        return Answer(*entry)

    def put(self, charge_point_id: str, message_id: str, digest: bytes, frame: str) -> None:
        if self._window == 0:
            return
        answers = self._chargers.get(charge_point_id)
        if answers is None:
            answers = self._chargers[charge_point_id] = {}
        else:
            answers.pop(message_id, None)
        answers[message_id] = (digest, frame, self._clock() + self._ttl)
        while len(answers) > self._window:
            del answers[next(iter(answers))]

    def clear(self, charge_point_id: str) -> None:
        self._chargers.pop(charge_point_id, None)
