"""Reference 2, the usual Python approach: an accept-all central system on the ``ocpp`` package.

Written the way the package's documentation shows ("Server side usage", the
README's central system): one ``ChargePoint`` subclass per OCPP version with
``@on`` handlers returning ``call_result`` dataclasses, ``websockets.serve``
with both subprotocols, ``cp.start()`` per connection. The package validates
every payload against its JSON schemas in the default thread pool and routes
through its own dataclasses. No credentials checked, no policy, no database:
every token is Accepted, so the gap to the gateway is a floor, not a match.

The documentation's example turns on INFO logging, which writes every
message; this reference logs warnings only (``--log-level INFO`` restores
it), so it is measured at its best.

``python -m bench.ocpp_server --port 0`` prints ``{"event": "listening", "port": N}``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import logging
import signal
from datetime import UTC, datetime
from typing import Any

import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16Base
from ocpp.v16 import call_result as result16
from ocpp.v16.enums import Action as Action16
from ocpp.v16.enums import AuthorizationStatus, RegistrationStatus
from ocpp.v201 import ChargePoint as ChargePoint201Base
from ocpp.v201 import call_result as result201
from ocpp.v201.enums import Action as Action201
from ocpp.v201.enums import AuthorizationStatusEnumType, RegistrationStatusEnumType

_transaction_ids = itertools.count(1)


def _now() -> str:
    return datetime.now(UTC).isoformat()


class ChargePoint16(ChargePoint16Base):
    @on(Action16.boot_notification)
    def on_boot_notification(
        self, charge_point_vendor: str, charge_point_model: str, **kwargs: Any
    ) -> result16.BootNotification:
        return result16.BootNotification(
            current_time=_now(), interval=300, status=RegistrationStatus.accepted
        )

    @on(Action16.heartbeat)
    def on_heartbeat(self) -> result16.Heartbeat:
        return result16.Heartbeat(current_time=_now())

    @on(Action16.authorize)
    def on_authorize(self, id_tag: str) -> result16.Authorize:
        return result16.Authorize(id_tag_info={"status": AuthorizationStatus.accepted})

    @on(Action16.status_notification)
    def on_status_notification(self, **kwargs: Any) -> result16.StatusNotification:
        return result16.StatusNotification()

    @on(Action16.start_transaction)
    def on_start_transaction(self, **kwargs: Any) -> result16.StartTransaction:
        return result16.StartTransaction(
            transaction_id=next(_transaction_ids),
            id_tag_info={"status": AuthorizationStatus.accepted},
        )

    @on(Action16.stop_transaction)
    def on_stop_transaction(self, **kwargs: Any) -> result16.StopTransaction:
        return result16.StopTransaction()

    @on(Action16.meter_values)
    def on_meter_values(self, **kwargs: Any) -> result16.MeterValues:
        return result16.MeterValues()


class ChargePoint201(ChargePoint201Base):
    @on(Action201.boot_notification)
    def on_boot_notification(
        self, charging_station: dict[str, Any], reason: str, **kwargs: Any
    ) -> result201.BootNotification:
        return result201.BootNotification(
            current_time=_now(), interval=300, status=RegistrationStatusEnumType.accepted
        )

    @on(Action201.heartbeat)
    def on_heartbeat(self, **kwargs: Any) -> result201.Heartbeat:
        return result201.Heartbeat(current_time=_now())

    @on(Action201.authorize)
    def on_authorize(self, id_token: dict[str, Any], **kwargs: Any) -> result201.Authorize:
        return result201.Authorize(id_token_info={"status": AuthorizationStatusEnumType.accepted})

    @on(Action201.status_notification)
    def on_status_notification(self, **kwargs: Any) -> result201.StatusNotification:
        return result201.StatusNotification()

    @on(Action201.transaction_event)
    def on_transaction_event(self, **kwargs: Any) -> result201.TransactionEvent:
        if "id_token" in kwargs:
            accepted = {"status": AuthorizationStatusEnumType.accepted}
            return result201.TransactionEvent(id_token_info=accepted)
        return result201.TransactionEvent()

    @on(Action201.meter_values)
    def on_meter_values(self, **kwargs: Any) -> result201.MeterValues:
        return result201.MeterValues()


async def on_connect(connection: websockets.ServerConnection) -> None:
    """For every new charge point, a ChargePoint of its version, listening for messages."""
    charge_point_id = connection.request.path.strip("/") if connection.request else "?"
    if connection.subprotocol == "ocpp1.6":
        charge_point: ChargePoint16Base | ChargePoint201Base = ChargePoint16(
            charge_point_id, connection
        )
    elif connection.subprotocol == "ocpp2.0.1":
        charge_point = ChargePoint201(charge_point_id, connection)
    else:
        await connection.close()
        return
    try:
        await charge_point.start()
    except websockets.ConnectionClosed:
        pass


async def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with websockets.serve(
        on_connect, args.host, args.port, subprotocols=["ocpp1.6", "ocpp2.0.1"]
    ) as server:
        port = server.sockets[0].getsockname()[1]
        print(json.dumps({"event": "listening", "port": port}), flush=True)
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
