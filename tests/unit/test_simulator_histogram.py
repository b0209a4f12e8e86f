"""Latency percentiles of the load generator: bounded buckets, never under-reported."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulators.load.histogram import Histogram, bucket_bounds, bucket_of
from simulators.load.stats import ActionStats, Recorder


def exact_percentile(values: list[int], p: float) -> int:
    """Nearest rank: the smallest value with at least p% of the samples at or below it."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1]


def test_small_values_have_a_bucket_each() -> None:
    for value in range(128):
        assert bucket_bounds(bucket_of(value)) == (value, value)


@given(st.integers(min_value=0, max_value=10**10))
def test_a_value_falls_inside_its_bucket_which_is_at_most_1_64_wide(value: int) -> None:
    low, high = bucket_bounds(bucket_of(value))
    assert low <= value <= high
    assert high - low + 1 <= max(1, low // 64)


def test_buckets_are_contiguous_and_ordered() -> None:
    previous_high = -1
    for index in range(2000):
        low, high = bucket_bounds(index)
        assert low == previous_high + 1
        assert bucket_of(low) == index and bucket_of(high) == index
        previous_high = high


@given(st.lists(st.integers(min_value=0, max_value=5_000_000), min_size=1, max_size=400))
def test_percentiles_are_never_below_the_exact_ones_and_within_1_6_percent(
    values: list[int],
) -> None:
    histogram = Histogram()
    for value in values:
        histogram.record(value)
    for p in (0, 1, 50, 90, 95, 99, 99.9, 100):
        exact = exact_percentile(values, p)
        got = histogram.percentile(p)
        assert exact <= got <= max(exact, exact + exact / 64)
    assert histogram.max == max(values) and histogram.min == min(values)
    assert histogram.percentile(100) == max(values)


def test_several_percentiles_in_one_pass_equal_one_at_a_time() -> None:
    rng = random.Random(7)
    histogram = Histogram()
    for _ in range(10_000):
        histogram.record(int(rng.lognormvariate(7, 1)))
    together = histogram.percentiles((50, 95, 99, 99.99))
    assert together == {p: histogram.percentile(p) for p in (50, 95, 99, 99.99)}


def test_memory_stays_bounded_whatever_the_number_of_samples() -> None:
    histogram = Histogram()
    for value in range(0, 10_000_000, 37):
        histogram.record(value)
    assert histogram.count == len(range(0, 10_000_000, 37))
    assert len(histogram.counts) < 1500


def test_merging_is_the_same_as_recording_everything_in_one() -> None:
    rng = random.Random(1)
    values = [rng.randrange(0, 200_000) for _ in range(3000)]
    whole, left, right = Histogram(), Histogram(), Histogram()
    for i, value in enumerate(values):
        whole.record(value)
        (left if i % 3 else right).record(value)
    left.merge(right)
    assert left.counts == whole.counts
    assert (left.count, left.total, left.min, left.max) == (
        whole.count,
        whole.total,
        whole.min,
        whole.max,
    )


def test_an_empty_histogram_reports_zeros() -> None:
    histogram = Histogram()
    assert histogram.percentile(99) == 0
    assert histogram.summary_ms() == {"p50": 0, "p95": 0, "p99": 0, "max": 0, "mean": 0}
    with pytest.raises(ValueError):
        Histogram().percentile(101)


def test_summary_is_in_milliseconds() -> None:
    histogram = Histogram()
    for value in (1000, 2000, 3000):
        histogram.record(value)
    summary = histogram.summary_ms()
    assert summary["max"] == 3.0 and summary["mean"] == 2.0
    assert 1.0 <= summary["p50"] <= 2.0 + 2.0 / 64


def test_every_call_sent_ends_in_exactly_one_outcome_in_the_summary() -> None:
    recorder = Recorder()
    stats = recorder.action("Authorize")
    stats.sent, stats.results, stats.timeouts, stats.closed = 10, 6, 1, 1
    stats.callerror_codes["SecurityError"] = 2
    stats.statuses["Accepted"] = 6
    for value in range(8):
        stats.latency.record(value * 100)
    summary = recorder.summary(2.0)
    action = summary["actions"]["Authorize"]
    outcomes = action["results"] + action["callerrors"] + action["timeouts"] + action["closed"]
    assert outcomes == action["sent"] == 10
    assert summary["errors"] == 4 and summary["answered"] == 8
    assert action["rate"] == 4.0 and summary["throughput"] == 4.0
    assert action["statuses"] == {"Accepted": 6}
    assert action["callerror_codes"] == {"SecurityError": 2}


def test_totals_merge_every_action() -> None:
    recorder = Recorder()
    for name in ("Authorize", "Heartbeat"):
        stats: ActionStats = recorder.action(name)
        stats.sent = stats.results = 3
        stats.latency.record(500)
    total = recorder.total()
    assert (total.sent, total.results, total.latency.count) == (6, 6, 2)
