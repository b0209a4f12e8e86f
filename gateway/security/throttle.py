"""Throttling of repeated authentication failures per remote address (HTTP 429).

A fixed budget of failures (unknown charger, bad credentials) per address in
a sliding window; past it, handshakes that would need a slow password hash
are refused with 429 and ``Retry-After`` until the window has room again.
Chargers whose credentials already verified in this process are still let in
(see ``VerifiedCache``): many honest chargers may share one carrier-grade NAT
address with an attacker, and the throttle is there to stop guessing, not
them. Time is read from the monotonic clock passed in.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable


class FailureThrottle:
    def __init__(
        self, limit: int, window: float, clock: Callable[[], float], max_addresses: int = 100_000
    ) -> None:
        self._limit = limit
        self._window = window
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
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
        """Seconds until ``address`` may try again, or None when it is not throttled."""
        times = self._recent(address)
        if times is None or len(times) < self._limit:
            return None
        return max(0.0, times[0] + self._window - self._clock())

    def record_failure(self, address: str) -> None:
        times = self._recent(address)
        if times is None:
            times = self._failures[address] = deque(maxlen=self._limit)
        times.append(self._clock())
        self._failures.move_to_end(address)
        while len(self._failures) > self._max:
            self._failures.popitem(last=False)
