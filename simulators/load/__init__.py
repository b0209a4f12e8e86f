"""The load generator: thousands of simulated chargers in one process.

:mod:`~simulators.load.fleet` runs the phases (connect, run, storm) over the
lean client in :mod:`~simulators.load.connection` and
:mod:`~simulators.load.wire`; :mod:`~simulators.load.stats` and
:mod:`~simulators.load.histogram` count outcomes and latencies;
``python -m simulators load`` is :mod:`~simulators.load.cli`.
"""

from simulators.load.fleet import ChargerSpec, Fleet, numbered_chargers
from simulators.load.mix import Mix

__all__ = ["ChargerSpec", "Fleet", "Mix", "numbered_chargers"]
