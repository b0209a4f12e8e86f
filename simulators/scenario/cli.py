"""``python -m simulators scenario FILE --url ws://...``: check a gateway's answers in CI.

Prints one line per step (``ok`` or ``FAIL`` with what differed) and a
summary. Exit status: 0 when every step matched, 1 when any did not, 2 when
the scenario file is invalid.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any, TextIO

from simulators.scenario.model import Scenario, ScenarioError, load_scenario
from simulators.scenario.runner import ScenarioRunner, StepResult


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "scenario",
        help="play a scenario file and check every answer",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("file", type=Path, help="the scenario (JSON)")
    p.add_argument("--url", help="ws://host:port[/path] of the gateway (else the file's url)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per answer (10)")
    p.add_argument("--fail-fast", action="store_true", help="stop at the first mismatch")
    p.add_argument("--report", type=Path, help="also write the results as JSON here")
    p.add_argument("--quiet", action="store_true", help="print failures and the summary only")
    p.set_defaults(handler=main)


def print_result(result: StepResult, out: TextIO, quiet: bool = False) -> None:
    if quiet and result.ok:
        return
    mark = "ok  " if result.ok else "FAIL"
    out.write(f"{mark} {result.step.number:>3}  {result.step.label()}: {result.detail}\n")
    out.flush()


def summary_line(results: list[StepResult], total: int) -> str:
    passed = sum(1 for r in results if r.ok)
    failed = len(results) - passed
    skipped = total - len(results)
    line = f"{total} steps: {passed} passed, {failed} failed"
    return line + (f", {skipped} not run" if skipped else "")


def play(
    scenario: Scenario,
    url: str,
    *,
    timeout: float = 10.0,
    fail_fast: bool = False,
    out: TextIO | None = None,
    quiet: bool = False,
) -> list[StepResult]:
    """Run ``scenario`` against ``url``, printing each result to ``out`` as it comes."""
    stream = sys.stdout if out is None else out
    runner = ScenarioRunner(
        scenario,
        url,
        call_timeout=timeout,
        fail_fast=fail_fast,
        on_result=lambda result: print_result(result, stream, quiet),
    )
    return asyncio.run(runner.run())


def main(args: argparse.Namespace) -> int:
    try:
        scenario = load_scenario(args.file, os.environ)
    except ScenarioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    url = args.url or scenario.url
    if not url:
        print('error: no gateway URL: give --url or "url" in the scenario', file=sys.stderr)
        return 2
    print(f"scenario {scenario.name!r} against {url}")
    results = play(scenario, url, timeout=args.timeout, fail_fast=args.fail_fast, quiet=args.quiet)
    print(summary_line(results, len(scenario.steps)))
    if args.report is not None:
        report = {
            "scenario": scenario.name,
            "url": url,
            "passed": all(r.ok for r in results) and len(results) == len(scenario.steps),
            "steps": [r.as_dict() for r in results],
        }
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    ok = len(results) == len(scenario.steps) and all(r.ok for r in results)
    return 0 if ok else 1
