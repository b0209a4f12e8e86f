"""Session cost: energy × price per kWh, plus an optional per-session fee.

Money is integer **minor units** of the organisation's currency (cents for
EUR) everywhere in the engine: caps, fees, spent amounts. Only the price per
kWh is a `Decimal` (minor units per kWh, e.g. `Decimal("25.9")` for
0.259 EUR/kWh), because prices commonly carry sub-cent digits. Energy is
integer Wh, as OCPP meter values (`Energy.Active.Import.Register`) report it.

The cost of a session is always recomputed from its total energy, rounded
half up to a whole minor unit once, so meter updates never accumulate
rounding errors. A station's tariff, when set, overrides its organisation's
(`Snapshot.tariff_for`).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

_ONE = Decimal(1)
_WH_PER_KWH = Decimal(1000)


@dataclass(frozen=True, slots=True)
class Tariff:
    """`price_per_kwh` in minor units per kWh; `session_fee` in minor units."""

    price_per_kwh: Decimal
    session_fee: int = 0

    def __post_init__(self) -> None:
        if self.price_per_kwh < 0 or self.session_fee < 0:
            raise ValueError("a tariff cannot be negative")

    def cost(self, energy_wh: int) -> int:
        """Cost in minor units of a session that has delivered `energy_wh`."""
        if energy_wh <= 0:  # every start: skip the decimal arithmetic
            return self.session_fee
        energy = Decimal(energy_wh)
        price = (energy * self.price_per_kwh / _WH_PER_KWH).quantize(_ONE, ROUND_HALF_UP)
        return int(price) + self.session_fee


FREE = Tariff(Decimal(0))
"""A tariff under which charging costs nothing (amount caps never fill)."""
