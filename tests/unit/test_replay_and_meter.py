"""The replay cache and energy extraction from meter values."""

from __future__ import annotations

from gateway.meter import energy_readings_wh
from gateway.rpc.replay import ReplayCache, payload_digest


def test_replay_cache_window_ttl_and_boot_clear() -> None:
    now = [0.0]
    cache = ReplayCache(window=2, ttl=10, clock=lambda: now[0])
    cache.put("CP", "1", b"d1", "f1")
    cache.put("CP", "2", b"d2", "f2")
    cache.put("CP", "3", b"d3", "f3")
    assert cache.get("CP", "1") is None, "oldest entry leaves the window"
    assert cache.get("CP", "3") is not None
    now[0] = 11
    assert cache.get("CP", "3") is None, "entries expire"
    cache.put("CP", "4", b"d4", "f4")
    cache.clear("CP")
    assert cache.get("CP", "4") is None


def test_digest_ignores_key_order_but_not_values() -> None:
    assert payload_digest("A", {"x": 1, "y": 2}) == payload_digest("A", {"y": 2, "x": 1})
    assert payload_digest("A", {"x": 1}) != payload_digest("A", {"x": 2})
    assert payload_digest("A", {}) != payload_digest("B", {})


def test_energy_readings_from_both_versions() -> None:
    v16 = [
        {
            "timestamp": "t",
            "sampledValue": [
                {"value": "1500"},
                {"value": "2.5", "unit": "kWh", "measurand": "Energy.Active.Import.Register"},
                {"value": "7", "measurand": "Power.Active.Import"},
                {"value": "9", "phase": "L1"},
                {"value": "oops"},
            ],
        }
    ]
    assert energy_readings_wh(v16) == [1500.0, 2500.0]
    v201 = [
        {
            "timestamp": "t",
            "sampledValue": [
                {"value": 3.0, "unitOfMeasure": {"unit": "kWh"}},
                {"value": 4.0, "unitOfMeasure": {"unit": "Wh", "multiplier": 3}},
            ],
        }
    ]
    assert energy_readings_wh(v201) == [3000.0, 4000.0]
