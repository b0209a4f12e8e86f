"""Charge point simulators for OCPP-J 1.6 and 2.0.1, written against the protocol only.

``ChargePoint16`` / ``ChargePoint201`` drive a central system over a real
WebSocket, one step at a time::

    async with ChargePoint16("CP-1", url="ws://127.0.0.1:9000", password="secret") as cp:
        await cp.boot()
        info = (await cp.authorize("BADGE-1"))["idTagInfo"]

The error model is documented in :mod:`simulators.errors`.

The same protocol behaviour drives the command line (``python -m simulators``):
:mod:`simulators.scenario` plays scenario files with expected answers (CI),
:mod:`simulators.load` runs thousands of lean chargers in one process (load),
and ``python -m simulators.demo`` checks the demo gateway.
"""

from simulators.base import ChargePointSimulator
from simulators.errors import CallError, ProtocolError
from simulators.v16 import ChargePoint16
from simulators.v201 import ChargePoint201

__all__ = ["CallError", "ChargePoint16", "ChargePoint201", "ChargePointSimulator", "ProtocolError"]
