"""``python -m simulators load``: N simulated chargers against a central system.

Phases, each bounded in time: connect (upgrade + BootNotification, spread
over ``--ramp-up``), an optional warm-up, the run (``--duration`` seconds of
the ``--mix``, closed loop or ``--rate`` units/s), an optional reconnect
storm (``--storm``), then closing. The JSON summary goes to stdout, or to
``--json FILE`` with a table on stdout. Exit status 0 when every charger
connected and every CALL got a CALLRESULT, 1 otherwise, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import resource
import ssl
import sys
from pathlib import Path
from typing import Any

from simulators.load.fleet import ChargerSpec, Fleet, numbered_chargers
from simulators.load.mix import Mix
from simulators.load.progress import Progress
from simulators.load.report import format_summary

_VERSIONS = {"1.6": ("1.6",), "2.0.1": ("2.0.1",), "both": ("1.6", "2.0.1")}


def raise_open_file_limit(wanted: int) -> int:
    """Raise the soft RLIMIT_NOFILE towards ``wanted`` (at most the hard limit); returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return int(soft)


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "load",
        help="drive a central system with many simulated chargers",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--url", required=True, help="ws://host:port[/path] of the central system")
    who = p.add_argument_group("chargers")
    who.add_argument("--chargers", type=int, default=10, help="how many (default 10)")
    who.add_argument("--id-prefix", default="LOAD-CP-", help="identity prefix (LOAD-CP-)")
    who.add_argument("--id-start", type=int, default=0, help="first number (0)")
    who.add_argument("--id-width", type=int, default=5, help="digits, zero-padded (5)")
    who.add_argument(
        "--ids-file",
        type=Path,
        help="one charger per line: id[,password[,version]] (instead of numbered ids)",
    )
    who.add_argument("--password", help="Basic auth password; {id} and {n} are replaced")
    who.add_argument("--ocpp", choices=sorted(_VERSIONS), default="1.6", help="version(s)")
    what = p.add_argument_group("messages")
    what.add_argument("--token", action="append", default=[], help="idTag / idToken (repeat)")
    what.add_argument("--tokens-file", type=Path, help="one token per line")
    what.add_argument(
        "--mix", default="authorize", help="units and weights, e.g. authorize=6,heartbeat=1"
    )
    what.add_argument("--session-meter-values", type=int, default=10, help="per session (10)")
    how = p.add_argument_group("timing (every phase is bounded)")
    how.add_argument("--duration", type=float, default=10.0, help="run seconds (10; 0: no run)")
    how.add_argument("--warmup", type=float, default=0.0, help="seconds run first, not counted")
    how.add_argument("--rate", type=float, help="open loop: units per second in total")
    how.add_argument("--max-units", type=int, help="stop the run after this many units")
    how.add_argument("--think-time", type=float, default=0.0, help="closed loop pause (s)")
    how.add_argument("--ramp-up", type=float, default=0.0, help="spread connections (s)")
    how.add_argument(
        "--connect-concurrency",
        type=int,
        default=64,
        help="handshakes in flight (64); above the server's listen backlog (often 100) "
        "the kernel drops SYNs, retried after 1 s",
    )
    how.add_argument("--connect-timeout", type=float, default=10.0)
    how.add_argument("--call-timeout", type=float, default=10.0)
    how.add_argument("--phase-timeout", type=float, default=300.0, help="connect/storm bound")
    how.add_argument("--storm", action="store_true", help="then drop all and reconnect at once")
    out = p.add_argument_group("output")
    out.add_argument("--json", type=Path, help="write the JSON summary here (table on stdout)")
    out.add_argument("--quiet", action="store_true", help="no progress line")
    out.add_argument("--seed", type=int, default=1)
    out.add_argument("--cafile", type=Path, help="CA bundle for wss://")
    p.set_defaults(handler=main)


def _chargers(args: argparse.Namespace) -> list[ChargerSpec]:
    if args.ids_file is None:
        return numbered_chargers(
            args.chargers,
            prefix=args.id_prefix,
            start=args.id_start,
            width=args.id_width,
            password=args.password,
            versions=_VERSIONS[args.ocpp],
        )
    specs: list[ChargerSpec] = []
    versions = _VERSIONS[args.ocpp]
    for line in args.ids_file.read_text(encoding="utf-8").splitlines():
        fields = [f.strip() for f in line.split(",")]
        if not fields[0] or fields[0].startswith("#"):
            continue
        password = fields[1] if len(fields) > 1 and fields[1] else args.password
        version = versions[len(specs) % len(versions)]
        if len(fields) > 2 and fields[2]:
            version = fields[2]
        specs.append(ChargerSpec(fields[0], password, version))
    return specs[: args.chargers] if args.chargers else specs


def _tokens(args: argparse.Namespace) -> list[str]:
    tokens = list(args.token)
    if args.tokens_file is not None:
        for line in args.tokens_file.read_text(encoding="utf-8").splitlines():
            if line.strip() and not line.startswith("#"):
                tokens.append(line.strip())
    return tokens or ["LOAD-TOKEN"]


async def run_load(args: argparse.Namespace, specs: list[ChargerSpec], mix: Mix) -> dict[str, Any]:
    context = None
    if args.cafile is not None:
        context = ssl.create_default_context(cafile=str(args.cafile))
    fleet = Fleet(
        args.url,
        specs,
        _tokens(args),
        call_timeout=args.call_timeout,
        connect_timeout=args.connect_timeout,
        connect_concurrency=args.connect_concurrency,
        seed=args.seed,
        ssl=context,
    )
    summary: dict[str, Any] = {
        "config": {
            "url": args.url,
            "chargers": len(specs),
            "ocpp": "+".join(v for v in ("1.6", "2.0.1") if any(s.version == v for s in specs)),
            "mix": mix.describe(),
            "session_meter_values": mix.session_meter_values,
            "duration": args.duration,
            "rate": args.rate,
            "warmup": args.warmup,
            "ramp_up": args.ramp_up,
            "storm": args.storm,
        }
    }
    async with fleet, contextlib.AsyncExitStack() as stack:
        if Progress.wanted(args.quiet):
            await stack.enter_async_context(Progress(fleet))
        summary["connect"] = await fleet.connect(ramp_up=args.ramp_up, timeout=args.phase_timeout)
        gc.collect()
        gc.freeze()  # the generator's own collections stay out of the latencies
        if args.duration > 0 and fleet.connected:
            if args.warmup > 0:
                await fleet.run(mix, duration=args.warmup, rate=args.rate)
            summary["run"] = await fleet.run(
                mix,
                duration=args.duration,
                rate=args.rate,
                max_units=args.max_units,
                think_time=args.think_time,
            )
        if args.storm and fleet.connected:
            summary["storm"] = await fleet.storm(timeout=args.phase_timeout)
        summary["late_replies"] = fleet.counters.late_replies
        summary["unexpected_frames"] = fleet.counters.unexpected_frames
        summary["reconnects"] = fleet.reconnects
        summary["server_calls"] = dict(sorted(fleet.counters.server_calls.items()))
    return summary


def failed(summary: dict[str, Any]) -> bool:
    """Any charger not connected, or any CALL without a CALLRESULT."""
    connect = summary["connect"]
    if connect["failed"] or connect["errors"]:
        return True
    for phase in ("run", "storm"):
        part = summary.get(phase)
        if part is not None and (part["errors"] or part.get("failed")):
            return True
    return False


def main(args: argparse.Namespace) -> int:
    try:
        mix = Mix.parse(args.mix, args.session_meter_values)
        specs = _chargers(args)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not specs:
        print("error: no charger to simulate", file=sys.stderr)
        return 2
    raise_open_file_limit(2 * len(specs) + 256)
    summary = asyncio.run(run_load(args, specs, mix))
    text = json.dumps(summary, indent=2)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n", encoding="utf-8")
        print(format_summary(summary))
    else:
        print(text)
    return 1 if failed(summary) else 0
