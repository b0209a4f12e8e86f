"""Reference 1, the ceiling of our stack: a bare ``websockets`` server, no OCPP library.

It accepts any charger (no credentials checked), picks the charger's first
OCPP subprotocol, parses each frame with ``json.loads`` and answers every CALL
with a CALLRESULT prepared in advance for its action (no validation, no
policy, no database). The gateway runs on the same ``websockets`` server with
the same options, so the gap between the two is what the gateway itself costs.

``python -m bench.bare_server --port 0`` prints ``{"event": "listening", "port": N}``
on stdout, then serves until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from collections.abc import Sequence

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

_NOW = "2026-01-01T00:00:00.000Z"
_ACCEPTED_16 = {"status": "Accepted", "expiryDate": _NOW, "parentIdTag": "BENCH-GROUP"}
_ACCEPTED_201 = {
    "status": "Accepted",
    "cacheExpiryDateTime": _NOW,
    "groupIdToken": {"idToken": "BENCH-GROUP", "type": "Central"},
}
ANSWERS = {
    "ocpp1.6": {
        "BootNotification": {"status": "Accepted", "currentTime": _NOW, "interval": 300},
        "Heartbeat": {"currentTime": _NOW},
        "Authorize": {"idTagInfo": _ACCEPTED_16},
        "StartTransaction": {"transactionId": 1, "idTagInfo": _ACCEPTED_16},
        "StopTransaction": {"idTagInfo": _ACCEPTED_16},
    },
    "ocpp2.0.1": {
        "BootNotification": {"status": "Accepted", "currentTime": _NOW, "interval": 300},
        "Heartbeat": {"currentTime": _NOW},
        "Authorize": {"idTokenInfo": _ACCEPTED_201},
        "TransactionEvent": {"idTokenInfo": _ACCEPTED_201},
    },
}
PREPARED = {
    version: {action: json.dumps(body, separators=(",", ":")) for action, body in answers.items()}
    for version, answers in ANSWERS.items()
}


def select_subprotocol(
    connection: ServerConnection, offered: Sequence[Subprotocol]
) -> Subprotocol | None:
    return next((name for name in offered if name in PREPARED), None)


async def handler(ws: ServerConnection) -> None:
    answers = PREPARED.get(ws.subprotocol or "", {})
    try:
        async for message in ws:
            frame = json.loads(message)
            if frame[0] == 2:
                await ws.send(f'[3,"{frame[1]}",{answers.get(frame[2], "{}")}]')
    except ConnectionClosed:
        pass


async def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with serve(
        handler,
        args.host,
        args.port,
        select_subprotocol=select_subprotocol,
        compression=None,
        ping_interval=60,
        ping_timeout=30,
        max_size=65536,
    ) as server:
        port = server.sockets[0].getsockname()[1]
        print(json.dumps({"event": "listening", "port": port}), flush=True)
        await stop.wait()
    sys.stdout.flush()


if __name__ == "__main__":
    asyncio.run(main())
