"""Latency percentiles in bounded memory: a log-linear histogram (as HdrHistogram does).

Values are whole microseconds. Below 128 µs every value has its own bucket;
above, each power of two is cut into 64 equal buckets, so a bucket is at
most 1/64 (1.6 %) wider than its lower bound. A bucket is reported by its
upper bound, capped by the largest value seen: a percentile is never
under-reported, and is at most 1.6 % over. An hour-long run needs at most a
few thousand buckets whatever the number of samples; the maximum, count
and sum are exact.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

_LINEAR = 128
_SUB_BITS = 6
_SUB = 1 << _SUB_BITS


def bucket_of(value: int) -> int:
    """The bucket index of ``value`` µs (negative values count as 0)."""
    if value < _LINEAR:
        return max(value, 0)
    shift = value.bit_length() - _SUB_BITS - 1
    return _LINEAR + (shift - 1) * _SUB + ((value >> shift) - _SUB)


def bucket_bounds(index: int) -> tuple[int, int]:
    """The smallest and largest value (µs) that fall in bucket ``index``."""
    if index < _LINEAR:
        return index, index
    shift, sub = divmod(index - _LINEAR, _SUB)
    shift += 1
    low = (_SUB + sub) << shift
    return low, low + (1 << shift) - 1


class Histogram:
    """Counts of latencies (µs) per bucket; mergeable; percentiles by nearest rank."""

    __slots__ = ("count", "counts", "max", "min", "total")

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}
        self.count = 0
        self.total = 0
        self.max = 0
        self.min = 0

    def record(self, value: int) -> None:
        index = bucket_of(value)
        counts = self.counts
        counts[index] = counts.get(index, 0) + 1
        if self.count == 0 or value < self.min:
            self.min = value
        if value > self.max:
            self.max = value
        self.count += 1
        self.total += value

    def merge(self, other: Histogram) -> None:
        for index, n in other.counts.items():
            self.counts[index] = self.counts.get(index, 0) + n
        if other.count:
            self.min = other.min if self.count == 0 else min(self.min, other.min)
            self.max = max(self.max, other.max)
        self.count += other.count
        self.total += other.total

    def percentile(self, p: float) -> int:
        """The value (µs) at or below which ``p`` percent of the samples lie (0 when empty)."""
        if not 0 <= p <= 100:
            raise ValueError("a percentile is between 0 and 100")
        if self.count == 0:
            return 0
        rank = max(1, math.ceil(p / 100 * self.count))
        seen = 0
        for index in sorted(self.counts):
            seen += self.counts[index]
            if seen >= rank:
                return min(bucket_bounds(index)[1], self.max)
        return self.max

    def percentiles(self, ps: Iterable[float]) -> dict[float, int]:
        """Several percentiles in one pass over the buckets."""
        wanted = sorted(ps)
        if any(not 0 <= p <= 100 for p in wanted):
            raise ValueError("a percentile is between 0 and 100")
        result: dict[float, int] = {}
        if self.count == 0:
            return dict.fromkeys(wanted, 0)
        ranks = [(p, max(1, math.ceil(p / 100 * self.count))) for p in wanted]
        seen, position = 0, 0
        for index in sorted(self.counts):
            seen += self.counts[index]
            while position < len(ranks) and seen >= ranks[position][1]:
                result[ranks[position][0]] = min(bucket_bounds(index)[1], self.max)
                position += 1
            if position == len(ranks):
                break
        for p, _ in ranks[position:]:
            result[p] = self.max
        return result

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0

    def summary_ms(self) -> dict[str, float]:
        """p50/p95/p99/max/mean in milliseconds, rounded to the microsecond."""
        p = self.percentiles((50, 95, 99))
        return {
            "p50": p[50] / 1000,
            "p95": p[95] / 1000,
            "p99": p[99] / 1000,
            "max": self.max / 1000,
            "mean": round(self.mean / 1000, 3),
        }
