"""The per-charger message mix: which unit of work a charger does next.

A mix is written ``authorize`` or ``authorize=6,heartbeat=2,status=1,session=1``
(weights; each charger draws its next unit at random with these weights,
from its own seeded generator). Units:

==========  ==========================================================
authorize   one Authorize
heartbeat   one Heartbeat
status      one StatusNotification (Available)
meter       one MeterValues outside a transaction
session     a full charging session: Start (1.6 StartTransaction,
            2.0.1 TransactionEvent Started), ``session_meter_values``
            meter values (1.6 MeterValues, 2.0.1 TransactionEvent
            Updated), Stop (StopTransaction / TransactionEvent Ended)
==========  ==========================================================

In open loop (a fixed total rate) the rate counts units, so a session is
one unit of ``session_meter_values + 2`` messages.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass

UNITS = ("authorize", "heartbeat", "status", "meter", "session")


@dataclass(frozen=True)
class Mix:
    weights: tuple[tuple[str, float], ...]
    session_meter_values: int = 10

    @classmethod
    def parse(cls, text: str, session_meter_values: int = 10) -> Mix:
        """``unit[=weight][,unit[=weight]...]``; raises ValueError with the reason."""
        weights: dict[str, float] = {}
        for item in text.split(","):
            name, sep, weight = item.strip().partition("=")
            name = name.strip().lower()
            if name not in UNITS:
                raise ValueError(f"unknown unit {name!r} in mix (known: {', '.join(UNITS)})")
            try:
                value = float(weight) if sep else 1.0
            except ValueError:
                raise ValueError(f"weight of {name!r} is not a number: {weight!r}") from None
            if value < 0:
                raise ValueError(f"weight of {name!r} is negative")
            weights[name] = weights.get(name, 0.0) + value
        if not any(weights.values()):
            raise ValueError("the mix has no unit with a positive weight")
        if session_meter_values < 0:
            raise ValueError("session_meter_values must be 0 or more")
        kept = tuple((name, w) for name, w in weights.items() if w > 0)
        return cls(kept, session_meter_values)

    @property
    def units(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.weights)

    def picker(self, rng: random.Random) -> Picker:
        return Picker(self, rng)

    def describe(self) -> str:
        return ",".join(f"{name}={weight:g}" for name, weight in self.weights)


class Picker:
    """Draws units for one charger."""

    __slots__ = ("_cumulative", "_names", "_only", "_rng")

    def __init__(self, mix: Mix, rng: random.Random) -> None:
        self._names = mix.units
        self._cumulative = list(itertools.accumulate(w for _, w in mix.weights))
        self._only = self._names[0] if len(self._names) == 1 else None
        self._rng = rng

    def next(self) -> str:
        if self._only is not None:
            return self._only
        return self._rng.choices(self._names, cum_weights=self._cumulative)[0]
