"""Energy from OCPP meter values (OCPP 1.6 §7.31 SampledValue, 2.0.1 §2.50 SampledValueType).

Only the total active energy register counts: measurand
``Energy.Active.Import.Register`` (the default when the measurand is absent),
no phase. 1.6 values are strings with a ``unit`` (Wh by default, or kWh);
2.0.1 values are numbers with ``unitOfMeasure`` {unit, multiplier}.
"""

from __future__ import annotations

from typing import Any

REGISTER = "Energy.Active.Import.Register"
_SCALE = {"Wh": 1.0, "kWh": 1000.0}


def energy_readings_wh(meter_values: list[dict[str, Any]]) -> list[float]:
    """The register readings in Wh, in the order received; unreadable samples are skipped."""
    readings: list[float] = []
    for meter_value in meter_values:
        for sample in meter_value.get("sampledValue", ()):
            if sample.get("measurand", REGISTER) != REGISTER or sample.get("phase"):
                continue
            unit_of_measure = sample.get("unitOfMeasure") or {}
            unit = sample.get("unit") or unit_of_measure.get("unit") or "Wh"
            multiplier = unit_of_measure.get("multiplier", 0)
            if unit not in _SCALE:
                continue
            try:
                value = float(sample["value"])
            except (KeyError, TypeError, ValueError):
                continue
            readings.append(value * _SCALE[unit] * 10.0**multiplier)
    return readings
