"""Hot-path helpers keep their results: cached label children, compact JSON, the replay window."""

from __future__ import annotations

import gc
import json

from gateway.metrics import Metrics
from gateway.rpc.frames import dumps, json_encoder
from gateway.rpc.replay import ReplayCache, payload_digest


def test_metric_children_are_created_once_and_counted_as_labels_would() -> None:
    metrics = Metrics()
    child = metrics.child(metrics.messages, "1.6", "Authorize", "result")
    assert metrics.child(metrics.messages, "1.6", "Authorize", "result") is child
    child.inc()
    metrics.child(metrics.messages, "1.6", "Authorize", "result").inc()
    metrics.messages.labels("2.0.1", "Authorize", "result").inc()
    counted = {
        sample.labels["ocpp_version"]: sample.value
        for sample in metrics.messages.collect()[0].samples
        if sample.name.endswith("_total")
    }
    assert counted == {"1.6": 2.0, "2.0.1": 1.0}
    assert metrics.child(metrics.handler_seconds, "Authorize") is metrics.handler_seconds.labels(
        "Authorize"
    )


def test_compact_json_is_json_dumps() -> None:
    values = [
        [3, "id", {"b": 1, "a": [1.5, None, True, "é\u2028\"'"], "c": {}}],
        {"n": 2**63 - 1, "f": -0.0, "e": 1e300, "s": ""},
    ]
    canonical = json_encoder(sort_keys=True, ensure_ascii=True)
    for value in values:
        assert dumps(value) == json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        assert canonical(value) == json.dumps(value, sort_keys=True, separators=(",", ":"))
    assert payload_digest("A", {"x": "é"}) != payload_digest("A", {"x": "e"})


def test_replay_window_evicts_the_oldest_and_a_put_again_moves_to_the_end() -> None:
    cache = ReplayCache(window=2, ttl=10, clock=lambda: 0.0)
    cache.put("CP", "1", b"d1", "f1")
    cache.put("CP", "2", b"d2", "f2")
    cache.put("CP", "1", b"d1", "f1 again")
    cache.put("CP", "3", b"d3", "f3")
    assert cache.get("CP", "2") is None
    answer = cache.get("CP", "1")
    assert answer is not None and answer.frame == "f1 again" and answer.digest == b"d1"
    assert cache.get("CP", "3") is not None


def test_kept_answers_leave_the_garbage_collectors_books() -> None:
    cache = ReplayCache(window=64, ttl=600, clock=lambda: 0.0)
    for i in range(64):
        cache.put("CP", str(i), payload_digest("Authorize", {"i": i}), f"[3,{i},{{}}]")
    gc.collect()
    entries = cache._chargers["CP"]
    assert not any(gc.is_tracked(entry) for entry in entries.values())
