"""The heap steward freezes settled chargers and compacts after churn; password checks
run in lower-priority threads."""

from __future__ import annotations

import asyncio
import gc
import os
import threading
from collections.abc import Iterator

import pytest

from gateway.heap import YOUNG_THRESHOLD, HeapSteward
from gateway.metrics import Metrics
from gateway.security.passwords import PasswordVerifier, hash_password


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()  # leave the test process as it was


def counted(metrics: Metrics, kind: str) -> float:
    value = metrics.registry.get_sample_value("ocpp_gateway_gc_freezes_total", {"kind": kind})
    return value or 0.0


def test_settled_chargers_are_frozen_then_compacted_after_churn(unfrozen: None) -> None:
    clock, metrics = Clock(), Metrics()
    steward = HeapSteward(metrics, quiet=2.0, batch=10, compact_after=20, clock=clock)
    first = [steward.arrived() for _ in range(100)]
    assert steward.step() is None  # chargers still arriving
    clock.now += 2.5
    before = gc.get_freeze_count()
    assert steward.step() == "freeze"
    assert gc.get_freeze_count() >= before
    assert steward.step() is None  # nothing new since
    assert counted(metrics, "freeze") == 1

    # Chargers that come and go between freezes were never frozen: nothing to compact.
    later = [steward.arrived() for _ in range(30)]
    for epoch in later:
        steward.left(epoch)
    clock.now += 2.5
    assert steward.step() is None

    for epoch in first[:24]:  # frozen ones leaving: fewer than a quarter of 100
        steward.left(epoch)
    clock.now += 2.5
    assert steward.step() is None
    steward.left(first[24])  # 25 of the 100 frozen: a quarter (and >= compact_after)
    assert steward.step() is None  # not quiet yet
    clock.now += 2.5
    assert steward.step() == "compact"
    assert counted(metrics, "compact") == 1
    assert steward.step() is None


def test_small_networks_compact_only_past_the_minimum(unfrozen: None) -> None:
    clock = Clock()
    steward = HeapSteward(Metrics(), quiet=1.0, batch=5, compact_after=50, clock=clock)
    epochs = [steward.arrived() for _ in range(40)]
    clock.now += 2
    assert steward.step() == "freeze"
    for epoch in epochs:  # all 40 leave: above a quarter, below the minimum
        steward.left(epoch)
    clock.now += 2
    assert steward.step() is None


def test_every_collection_pause_is_measured(unfrozen: None) -> None:
    metrics = Metrics()
    steward = HeapSteward(metrics)

    async def main() -> None:
        task = asyncio.create_task(steward.run(interval=0.01))
        await asyncio.sleep(0.02)
        gc.collect(0)
        gc.collect()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    for generation in ("0", "2"):
        count = metrics.registry.get_sample_value(
            "ocpp_gateway_gc_pause_seconds_count", {"generation": generation}
        )
        assert count is not None and count >= 1
    assert steward._on_gc not in gc.callbacks  # removed with the task


def test_young_collections_are_rarer_while_the_steward_runs() -> None:
    before = gc.get_threshold()
    seen: list[tuple[int, ...]] = []

    async def main() -> None:
        task = asyncio.create_task(HeapSteward(Metrics()).run(interval=0.01))
        await asyncio.sleep(0.02)
        seen.append(gc.get_threshold())
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert seen == [(YOUNG_THRESHOLD, *before[1:])]
    assert YOUNG_THRESHOLD > before[0]
    assert gc.get_threshold() == before  # restored with the task


def test_overlapping_stewards_restore_the_threshold_when_the_last_stops() -> None:
    before = gc.get_threshold()
    seen: list[tuple[int, ...]] = []

    async def main() -> None:
        first = asyncio.create_task(HeapSteward(Metrics()).run(interval=0.01))
        await asyncio.sleep(0.02)
        second = asyncio.create_task(HeapSteward(Metrics()).run(interval=0.01))
        await asyncio.sleep(0.02)
        first.cancel()  # the first stops while the second still runs
        await asyncio.gather(first, return_exceptions=True)
        seen.append(gc.get_threshold())
        second.cancel()
        await asyncio.gather(second, return_exceptions=True)

    asyncio.run(main())
    assert seen == [(YOUNG_THRESHOLD, *before[1:])]
    assert gc.get_threshold() == before


def test_password_checks_run_at_a_lower_priority() -> None:
    stored = hash_password("s3cret-of-the-charger", n=2**10)
    verifier = PasswordVerifier(workers=1, nice=5)

    async def main() -> tuple[bool, bool, int]:
        right = await verifier.verify(stored, b"s3cret-of-the-charger")
        wrong = await verifier.verify(stored, b"not-the-password")
        niceness = await asyncio.get_running_loop().run_in_executor(
            verifier._executor,
            lambda: os.getpriority(os.PRIO_PROCESS, threading.get_native_id()),
        )
        return right, wrong, niceness

    try:
        right, wrong, niceness = asyncio.run(main())
    finally:
        verifier.close()
    assert (right, wrong) == (True, False)
    assert niceness >= os.getpriority(os.PRIO_PROCESS, 0) + 5 or niceness == 19


def test_waiting_password_checks_take_turns_by_address() -> None:
    """A burst from one address does not queue in front of another address's charger;
    a cancelled check (the charger left) gives its turn on."""
    stored = hash_password("s3cret-of-the-charger", n=2**10)
    verifier = PasswordVerifier(workers=1)

    async def main() -> list[str]:
        done: list[str] = []

        async def check(name: str, source: str) -> None:
            await verifier.verify(stored, b"a-guess", source)
            done.append(name)

        burst = [asyncio.create_task(check(f"a{i}", "10.0.0.1")) for i in range(5)]
        await asyncio.sleep(0)  # a0 runs, a1-a4 wait
        other = asyncio.create_task(check("b0", "10.0.0.2"))
        await asyncio.sleep(0)
        burst[2].cancel()  # a2 left while waiting
        await asyncio.gather(*burst, other, return_exceptions=True)
        return done

    try:
        order = asyncio.run(main())
    finally:
        verifier.close()
    assert order == ["a0", "a1", "b0", "a3", "a4"]
