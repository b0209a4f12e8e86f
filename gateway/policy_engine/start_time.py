"""When a session counts: the start a charger reports, as far as its clock is believed.

A session counts against the caps in the period of the day it started
(``periods``). The start is what the charger reports (OCPP 1.6
``StartTransaction.timestamp``, 2.0.1 ``TransactionEvent.timestamp`` of the
event that brings the token), so a session that a charger kept while offline
and reports late counts in its own period, not in the day it reached the
gateway. A charger's clock is believed within limits:

- never later than the gateway received the start: a clock running ahead
  (or a start reported in the future) counts at reception, so nobody moves
  a session into the next period by setting a charger's clock forward;
- at most ``MAX_START_AGE`` (30 days) before reception: an older start
  comes from a clock that was reset (1970, 2000-01-01) more often than from
  a charger offline for a month, and counting it in a period long gone would
  take it off every cap; it counts at reception too.

The gateway decides the instant once, when it counts the start, and records
it with the transaction (``transactions.counted_at``); a restart rebuilds the
counters from that column, so the live counters and the rebuilt ones agree.
"""

from __future__ import annotations

from datetime import datetime, timedelta

MAX_START_AGE = timedelta(days=30)
"""How far before its reception a reported start is believed."""


def counted_start(reported: datetime, received: datetime) -> datetime:
    """The instant a session started as far as caps go (see the module docstring)."""
    if received - MAX_START_AGE <= reported <= received:
        return reported
    return received
