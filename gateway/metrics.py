"""Prometheus metrics of one gateway instance.

Each :class:`Metrics` owns its own ``CollectorRegistry`` so that several
gateways can live in one process (tests) without clashing. Label values are
bounded: actions outside the spec's list are counted as ``unknown``.
The names here are a contract with ``deploy/`` (dashboard and alert rules).

On the hot path, use :meth:`Metrics.child` rather than ``metric.labels(...)``:
it keeps each label child once created (``labels()`` costs a few microseconds
per call; every label value here comes from a bounded set).
"""

from __future__ import annotations

from typing import Any, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.metrics import MetricWrapperBase

M = TypeVar("M", bound=MetricWrapperBase)

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
        self.messages = Counter(
            "ocpp_gateway_messages",
            "CALLs received from chargers, by action and outcome",
            ["ocpp_version", "action", "outcome"],
            registry=r,
        )
        self.callerrors = Counter(
            "ocpp_gateway_callerrors",
            "CALLERRORs sent to chargers, by error code",
            ["ocpp_version", "code"],
            registry=r,
        )
        self.handler_seconds = Histogram(
            "ocpp_gateway_handler_seconds",
            "Time to answer a CALL, by action",
            ["action"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.authorization_decisions = Counter(
            "ocpp_gateway_authorization_decisions",
            "Authorization decisions by status and reason",
            ["status", "reason"],
            registry=r,
        )
        self.decision_seconds = Histogram(
            "ocpp_gateway_decision_seconds",
            "Time of the policy decision alone",
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

    def child(self, metric: M, *label_values: str) -> M:
        """``metric.labels(*label_values)``, created once and then kept."""
        key = (id(metric), label_values)
        found: M | None = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*label_values)
        return found

    def render(self) -> bytes:
        return generate_latest(self.registry)
