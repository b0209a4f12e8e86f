"""Throttling of repeated authentication failures per remote address (HTTP 429).

A fixed budget of failures (unknown charger, bad credentials) per address in
a sliding window; past it, handshakes that would need a slow password hash
are refused with 429 and ``Retry-After`` until the window has room again.

A password check in flight holds a place in the budget until it ends (see
``begin_check``): it is counted before the hash is computed, not after, so
that N attempts arriving at once from one address cause at most ``limit``
hashes however long each takes; the others are refused at once. A check
that ends well gives its place back; one that fails (or is abandoned) keeps
it as a failure.

Chargers whose credentials already verified in this process are still let in
(see ``VerifiedCache``): many honest chargers may share one carrier-grade NAT
address with an attacker, and the throttle is there to stop guessing, not
them. Time is read from the monotonic clock passed in.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable

IN_FLIGHT_RETRY = 1.0
"""``Retry-After`` (seconds) when checks in flight, not failures, fill the budget."""


class FailureThrottle:
    def __init__(
        self, limit: int, window: float, clock: Callable[[], float], max_addresses: int = 100_000
    ) -> None:
        self._limit = limit
        self._window = window
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._in_flight: dict[str, int] = {}
        self._max = max_addresses

    def _recent(self, address: str) -> deque[float] | None:
        times = self._failures.get(address)
        if times is None:
            return None
        horizon = self._clock() - self._window
        while times and times[0] <= horizon:
            times.popleft()
        if not times:
            del self._failures[address]
            return None
        return times

    def retry_after(self, address: str) -> float | None:
        """Seconds until ``address`` may try again, or None when it is not throttled.

        Failures in the window and checks in flight together fill the budget.
        """
        times = self._recent(address)
        failed = len(times) if times is not None else 0
        if failed + self._in_flight.get(address, 0) < self._limit:
            return None
        if times is None or failed < self._limit:
            return IN_FLIGHT_RETRY
        return max(0.0, times[0] + self._window - self._clock())

    def begin_check(self, address: str) -> bool:
        """Take a place in the budget for a password check; False when none is left.

        Every True must be followed by one ``end_check`` for the same address.
        """
        if self.retry_after(address) is not None:
            return False
        self._in_flight[address] = self._in_flight.get(address, 0) + 1
        return True

    def end_check(self, address: str, *, failed: bool) -> None:
        """The check begun for ``address`` is over: its place is freed, or kept as a failure."""
        left = self._in_flight.pop(address) - 1
        if left:
            self._in_flight[address] = left
        if failed:
            self.record_failure(address)

    def record_failure(self, address: str) -> None:
        times = self._recent(address)
        if times is None:
            times = self._failures[address] = deque(maxlen=self._limit)
        times.append(self._clock())
        self._failures.move_to_end(address)
        while len(self._failures) > self._max:
            self._failures.popitem(last=False)
