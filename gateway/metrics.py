"""Prometheus metrics of one gateway instance.

Each :class:`Metrics` owns its own ``CollectorRegistry`` so that several
gateways can live in one process (tests) without clashing. Label values are
bounded: actions outside the spec's list are counted as ``unknown``.
The names here are a contract with ``deploy/`` (dashboard and alert rules).

On the hot path, use :meth:`Metrics.child` rather than ``metric.labels(...)``:
it keeps each label child once created (``labels()`` costs a few microseconds
per call; every label value here comes from a bounded set).

The metrics counted once or more per CALL (messages, CALLERRORs, handling
time, decisions, decision time) are :class:`LoopCounter` and
:class:`LoopHistogram`: plain numbers bumped without a lock, exported by the
registry like any other metric (same names, types and samples, bar the
``_created`` series). A ``prometheus_client`` child takes a lock and, for a
histogram, walks the buckets in Python: 1-3 us each, four times per
Authorize. The gateway bumps them on its event loop thread only, and
``/metrics`` is rendered on that thread too.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from typing import Any, Protocol, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class _Labelled(Protocol[T_co]):
    def labels(self, *values: str) -> T_co: ...


_LATENCY_BUCKETS = (
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
)
_DECISION_BUCKETS = (1e-6, 2.5e-6, 5e-6, 1e-5, 2e-5, 5e-5, 1e-4, 2.5e-4, 1e-3)


class _CounterChild:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1.0) -> None:
        if amount < 0:
            raise ValueError("counters only go up")
        self.value += amount


class _HistogramChild:
    __slots__ = ("_bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self._bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one: above every bound (+Inf)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self._bounds, value)] += 1  # bounds are inclusive (le)
        self.sum += value


class _LoopFamily(Collector):
    """Label children of one metric, exported by ``collect`` (see the module docstring)."""

    def __init__(
        self, name: str, documentation: str, labelnames: Sequence[str], registry: CollectorRegistry
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        self._children: dict[tuple[str, ...], Any] = {}
        registry.register(self)

    def _new_child(self) -> Any:
        raise NotImplementedError

    def labels(self, *values: str) -> Any:
        if len(values) != len(self.labelnames):
            raise ValueError(f"{self.name} takes labels {self.labelnames}, got {values!r}")
        key = tuple(str(v) for v in values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self._new_child()
        return child

    def describe(self) -> list[Metric]:
        return self.collect()

    def collect(self) -> list[Metric]:
        raise NotImplementedError


class LoopCounter(_LoopFamily):
    """A labelled counter for one thread (the event loop): ``labels(...).inc()``."""

    def _new_child(self) -> _CounterChild:
        return _CounterChild()

    def labels(self, *values: str) -> _CounterChild:
        child: _CounterChild = super().labels(*values)
        return child

    def collect(self) -> list[Metric]:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for key, child in list(self._children.items()):
            family.add_metric(key, child.value)
        return [family]


class LoopHistogram(_LoopFamily):
    """A labelled histogram for one thread (the event loop): ``labels(...).observe(s)``;
    without label names, ``observe(s)`` directly."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str],
        registry: CollectorRegistry,
        buckets: Sequence[float],
    ) -> None:
        self.bounds = tuple(sorted(float(b) for b in buckets))
        super().__init__(name, documentation, labelnames, registry)
        if not self.labelnames:
            self.observe = self.labels().observe

    def _new_child(self) -> _HistogramChild:
        return _HistogramChild(self.bounds)

    def labels(self, *values: str) -> _HistogramChild:
        child: _HistogramChild = super().labels(*values)
        return child

    def collect(self) -> list[Metric]:
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
        edges = [*(_le(b) for b in self.bounds), "+Inf"]
        for key, child in list(self._children.items()):
            running, buckets = 0, []
            for edge, count in zip(edges, list(child.counts), strict=True):
                running += count
                buckets.append((edge, running))
            family.add_metric(list(key), buckets, child.sum)
        return [family]


def _le(bound: float) -> str:
    """A bucket's ``le`` label as prometheus_client writes it (``0.001``, ``1.0``)."""
    return str(floatToGoString(bound))  # type: ignore[no-untyped-call]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.connected_chargers = Gauge(
            "ocpp_gateway_connected_chargers",
            "Chargers connected now, by OCPP version",
            ["ocpp_version"],
            registry=r,
        )
        self.connections_refused = Counter(
            "ocpp_gateway_connections_refused",
            "WebSocket connections refused, by cause",
            ["cause"],
            registry=r,
        )
        self.security_events = Counter(
            "ocpp_gateway_security_events",
            "Security events seen by the gateway, by kind",
            ["kind"],
            registry=r,
        )
        self.password_checks = Counter(
            "ocpp_gateway_password_checks",
            "Charger passwords checked against their slow hash at a handshake, by outcome",
            ["outcome"],
            registry=r,
        )
        self.messages = LoopCounter(
            "ocpp_gateway_messages",
            "CALLs received from chargers, by action and outcome",
            ["ocpp_version", "action", "outcome"],
            registry=r,
        )
        self.callerrors = LoopCounter(
            "ocpp_gateway_callerrors",
            "CALLERRORs sent to chargers, by error code",
            ["ocpp_version", "code"],
            registry=r,
        )
        self.handler_seconds = LoopHistogram(
            "ocpp_gateway_handler_seconds",
            "Time to answer a CALL, by action",
            ["action"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.authorization_decisions = LoopCounter(
            "ocpp_gateway_authorization_decisions",
            "Authorization decisions by status and reason",
            ["status", "reason"],
            registry=r,
        )
        self.decision_seconds = LoopHistogram(
            "ocpp_gateway_decision_seconds",
            "Time of the policy decision alone",
            [],
            buckets=_DECISION_BUCKETS,
            registry=r,
        )
        self.db_commit_seconds = Histogram(
            "ocpp_gateway_db_commit_seconds",
            "Time of one durable database commit (a batch)",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.db_batch_size = Histogram(
            "ocpp_gateway_db_batch_size",
            "Writes grouped in one commit",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
            registry=r,
        )
        self.storage_faults = Counter(
            "ocpp_gateway_storage_faults",
            "Times the database stopped taking durable writes, by kind (gateway.store.health)",
            ["kind"],
            registry=r,
        )
        self.storage_writable = Gauge(
            "ocpp_gateway_storage_writable",
            "1 while the database takes durable writes, 0 while chargers are asked to come back",
            registry=r,
        )
        self.open_transactions = Gauge(
            "ocpp_gateway_open_transactions",
            "Transactions started and not yet ended",
            registry=r,
        )
        self.quarantined = Counter(
            "ocpp_gateway_quarantined_messages",
            "Messages kept in quarantine, by action",
            ["action"],
            registry=r,
        )
        self.outbound_calls = Counter(
            "ocpp_gateway_outbound_calls",
            "CALLs sent by the gateway to chargers, by outcome",
            ["action", "outcome"],
            registry=r,
        )
        self.policy_breaches = Counter(
            "ocpp_gateway_policy_breaches",
            "Running sessions found breaking a rule, by rule and action",
            ["rule", "action"],
            registry=r,
        )
        self.cache_updates = Counter(
            "ocpp_gateway_policy_cache_updates",
            "Policy cache snapshots swapped in: rebuilt whole, or patched for some members",
            ["kind"],
            registry=r,
        )
        self.cache_rebuild_seconds = Histogram(
            "ocpp_gateway_policy_cache_rebuild_seconds",
            "Time to rebuild the policy cache from the database (read, build, swap)",
            buckets=(0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=r,
        )
        self.sessions_stopped = Counter(
            "ocpp_gateway_sessions_stopped",
            "Sessions the gateway ended, by reason",
            ["reason"],
            registry=r,
        )
        self.gc_pause_seconds = Histogram(
            "ocpp_gateway_gc_pause_seconds",
            "Pauses of the event loop for Python's garbage collector, by generation",
            ["generation"],
            buckets=(0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
            registry=r,
        )
        self.gc_freezes = Counter(
            "ocpp_gateway_gc_freezes",
            "Settled objects moved out of the garbage collector's way (gateway.heap), by kind",
            ["kind"],
            registry=r,
        )

        self._children: dict[tuple[Any, ...], Any] = {}

    def child(self, metric: _Labelled[T], *label_values: str) -> T:
        """``metric.labels(*label_values)``, created once and then kept."""
        key = (id(metric), label_values)
        found: T | None = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*label_values)
        return found

    def render(self) -> bytes:
        return generate_latest(self.registry)
