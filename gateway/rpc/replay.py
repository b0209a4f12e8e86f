"""Answers kept per charger so that a retried CALL is answered without doing it twice.

OCPP-J lets a charger resend a CALL with the same message id after a lost
answer (typically across a reconnect). The same id with the same payload gets
the first answer again; the same id with another payload is a protocol error.
Entries live ``ttl`` seconds (monotonic clock), at most ``window`` per charger.
BootNotification starts a new message-id space: chargers that count ids from
1 after a reboot must not be mistaken for retries, so a boot clears the
charger's entries, and BootNotification and Heartbeat (time-sensitive, no side
effect) are never replayed.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

NEVER_REPLAYED = frozenset({"BootNotification", "Heartbeat"})


def payload_digest(action: str, payload: dict[str, Any]) -> bytes:
    canonical = action + "\x00" + json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.blake2b(canonical.encode(), digest_size=16).digest()


@dataclass(frozen=True, slots=True)
class Answer:
    digest: bytes
    frame: str
    expires: float


class ReplayCache:
    def __init__(self, window: int, ttl: float, clock: Callable[[], float]) -> None:
        self._window = window
        self._ttl = ttl
        self._clock = clock
        self._chargers: dict[str, OrderedDict[str, Answer]] = {}

    def get(self, charge_point_id: str, message_id: str) -> Answer | None:
        answers = self._chargers.get(charge_point_id)
        if answers is None:
            return None
        answer = answers.get(message_id)
        if answer is None:
            return None
        if answer.expires <= self._clock():
            del answers[message_id]
            return None
        return answer

    def put(self, charge_point_id: str, message_id: str, digest: bytes, frame: str) -> None:
        if self._window == 0:
            return
        answers = self._chargers.setdefault(charge_point_id, OrderedDict())
        answers[message_id] = Answer(digest, frame, self._clock() + self._ttl)
        answers.move_to_end(message_id)
        while len(answers) > self._window:
            answers.popitem(last=False)

    def clear(self, charge_point_id: str) -> None:
        self._chargers.pop(charge_point_id, None)
