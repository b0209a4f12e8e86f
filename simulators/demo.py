"""``python -m simulators.demo --url ws://127.0.0.1:9000``: try the demo gateway (``make demo``).

Plays a built-in scenario against the demo data: every demo token is
presented to the 1.6 station and to the 2.0.1 station, then one full session
runs on each (start, meter values, stop). Prints each token's status for
both versions against the expected one, and exits 0 when every answer
matches, 1 otherwise. The expectations are those the gateway's demo prints;
they are copied here because the simulators know only the protocol.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from simulators.answers import main_status
from simulators.scenario.model import Scenario, parse_scenario
from simulators.scenario.runner import ScenarioRunner, StepResult

STATIONS = {
    "DEMO-CP16": {"version": "1.6", "password": "demo-password-16"},
    "DEMO-CP201": {"version": "2.0.1", "password": "demo-password-201"},
}

# token, expected 1.6 status, expected 2.0.1 status, why: as gateway/demo.py seeds them
# (tests/unit/test_simulator_demo.py keeps the two in step)
TOKENS = (
    ("DEMO-OK", "Accepted", "Accepted", "active member, active token"),
    ("DEMO-BLOCKED", "Blocked", "Blocked", "token blocked"),
    ("DEMO-LOST", "Blocked", "Blocked", "token reported lost"),
    ("DEMO-INACTIVE", "Blocked", "Blocked", "member deactivated"),
    ("DEMO-PENDING", "Invalid", "Invalid", "member invited, not yet active"),
    ("DEMO-EXPIRED", "Expired", "Expired", "token expired"),
    ("DEMO-UNKNOWN", "Invalid", "Unknown", "not registered"),
    ("DEMO-ELSEWHERE", "Invalid", "NotAtThisLocation", "allowed only at site Paris"),
    ("DEMO-LATER", "Invalid", "NotAtThisTime", "policy valid from 2100"),
    ("DEMO-NOCREDIT", "Blocked", "NoCredit", "amount cap of 0 EUR a month"),
    ("DEMO-SESSIONS", "Blocked", "NotAtThisTime", "0 sessions a day allowed"),
    ("DEMO-BUSY", "ConcurrentTx", "ConcurrentTx", "one session at a time, one running"),
)

_VERSION_STATION = {"1.6": "DEMO-CP16", "2.0.1": "DEMO-CP201"}


def _session(station: str) -> list[dict[str, Any]]:
    return [
        {
            "name": f"{station} session: start with DEMO-OK",
            "station": station,
            "action": "StartTransaction",
            "token": "DEMO-OK",
            "meter_wh": 0,
            "expect": {"status": "Accepted"},
        },
        {"name": f"{station} session: meter 1 kWh", "station": station, "action": "MeterValues"},
        {"name": f"{station} session: meter 2 kWh", "station": station, "action": "MeterValues"},
        {
            "name": f"{station} session: stop at 3 kWh",
            "station": station,
            "action": "StopTransaction",
            "meter_wh": 3000,
        },
    ]


def demo_scenario() -> dict[str, Any]:
    """The demo as a scenario file would write it."""
    steps: list[dict[str, Any]] = []
    for version, station in _VERSION_STATION.items():
        for token, expect_16, expect_201, _why in TOKENS:
            steps.append(
                {
                    "station": station,
                    "action": "Authorize",
                    "token": token,
                    "expect": {"status": expect_16 if version == "1.6" else expect_201},
                }
            )
    for station in _VERSION_STATION.values():
        steps.extend(_session(station))
    return {"name": "demo", "stations": STATIONS, "steps": steps}


def _cell(result: StepResult | None) -> str:
    if result is None:
        return "-"
    if result.ok:
        return result.detail
    status = main_status(result.answer) if result.answer is not None else None
    return f"{status}!" if status is not None else "error!"


def report(scenario: Scenario, results: list[StepResult]) -> str:
    """The token table (``!`` marks a mismatch), the sessions, then every problem once."""
    by_token = {
        (r.step.station, str(r.step.params["token"])): r
        for r in results
        if r.step.action == "Authorize"
    }
    lines = [f"{'token':<15} {'1.6':<13} {'2.0.1':<18} {'expected (1.6 / 2.0.1)':<33} why"]
    for token, expect_16, expect_201, why in TOKENS:
        s16 = _cell(by_token.get(("DEMO-CP16", token)))
        s201 = _cell(by_token.get(("DEMO-CP201", token)))
        expected = f"{expect_16} / {expect_201}"
        lines.append(f"{token:<15} {s16:<13} {s201:<18} {expected:<33} {why}")
    lines.append("")
    for result in results:
        if result.step.action != "Authorize":
            mark = "ok  " if result.ok else "FAIL"
            lines.append(f"{mark} {result.step.label()}: {result.detail}")
    problems = list(dict.fromkeys(p for r in results for p in r.problems))
    if problems:
        lines.append("")
        lines.extend(f"problem: {p}" for p in problems[:10])
    passed = sum(1 for r in results if r.ok)
    lines.append("")
    lines.append(f"{passed}/{len(scenario.steps)} answers match the demo data")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulators.demo", description=__doc__)
    parser.add_argument("--url", default="ws://127.0.0.1:9000", help="the demo gateway")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per answer")
    args = parser.parse_args(argv)
    scenario = parse_scenario(demo_scenario(), source="demo")
    print(f"demo scenario against {args.url}\n")
    results = asyncio.run(ScenarioRunner(scenario, args.url, call_timeout=args.timeout).run())
    print(report(scenario, results))
    ok = len(results) == len(scenario.steps) and all(r.ok for r in results)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
