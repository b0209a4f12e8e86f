"""``make bench`` / ``python -m bench``: the gateway against two references, same load.

1. builds the dataset (:mod:`bench.dataset`) in ``bench-results/``;
2. pins itself (the load generator) to the first CPU and each server to the
   second (``taskset``), raises the open-file limit;
3. for each target (the bare ``websockets`` server, the ``ocpp`` package's
   accept-all server, the gateway on a copy of the dataset): idle chargers
   (RSS per charger), a fixed Authorize rate, a reconnect storm, Authorize
   saturation at several sizes, full sessions; for the gateway, sessions and Heartbeats
   beside a 100,000-row member import (:mod:`bench.import_isolation`);
4. prints a table and the gateway's ratios against both references and
   writes every figure to ``bench-results/latest.json``.

Every phase is bounded in time; the whole run takes about 8 minutes on 2
cores (``--quick``: about 2, with a smaller network).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import dataset, import_isolation, scenarios, targets
from bench.report import goals, ratios, render
from simulators.load.cli import raise_open_file_limit

TARGETS = ("bare", "ocpp", "gateway")
SCENARIOS = ("fixed", "saturation", "sessions", "import")
SETTLE_SECONDS = 5.0
"""Between scenarios: the chargers of one have left before the next measures. The
gateway's heap steward acts after 2 s without arrivals or departures, and its
compaction after 5,000 chargers left pauses it for about 1.3 s (README): that pause
is reported on its own, not inside the next scenario's figures."""


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip() or None


def _pin() -> tuple[int | None, int | None, list[str]]:
    """(generator CPU, server CPU, notes)."""
    notes: list[str] = []
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        notes.append("one CPU only: generator and server share it; figures are not comparable")
        return None, None, notes
    if targets.TASKSET is None:
        notes.append("taskset not found (util-linux): servers run unpinned")
        os.sched_setaffinity(0, {cpus[0]})
        return cpus[0], None, notes
    os.sched_setaffinity(0, {cpus[0]})
    return cpus[0], cpus[1], notes


def fresh_copy(template: Path, database: Path) -> Path:
    """A copy of the dataset for one gateway run (its sessions write to it)."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(template, database)
    return database


async def _start(name: str, results: Path, template: Path, cpu: int | None) -> targets.Target:
    log = results / f"{name}.log"
    if name == "bare":
        return await targets.start_reference(name, "bench.bare_server", log, cpu)
    if name == "ocpp":
        return await targets.start_reference(name, "bench.ocpp_server", log, cpu)
    database = fresh_copy(template, results / "gateway.sqlite3")
    return await targets.start_gateway(database, log, cpu)


async def bench_target(
    name: str,
    results: Path,
    template: Path,
    cpu: int | None,
    plan: scenarios.Plan,
    chosen: frozenset[str] = frozenset(SCENARIOS),
) -> dict[str, Any]:
    started = time.monotonic()
    print(f"[{name}] starting", file=sys.stderr, flush=True)
    target = await _start(name, results, template, cpu)
    out: dict[str, Any] = {"url": target.url, "pid": target.pid}
    try:
        if "fixed" in chosen:
            print(
                f"[{name}] {plan.fixed_chargers} idle chargers, fixed rate, storm", file=sys.stderr
            )
            out.update(await scenarios.idle_fixed_and_storm(target, plan))
            await asyncio.sleep(SETTLE_SECONDS)
        for size in plan.saturation if "saturation" in chosen else []:
            print(f"[{name}] Authorize saturation, {size} chargers", file=sys.stderr, flush=True)
            out[f"authorize-{size}"] = await scenarios.saturation(target, plan, size)
            await asyncio.sleep(SETTLE_SECONDS)
        if "sessions" in chosen:
            print(f"[{name}] sessions, {plan.session_chargers} chargers", file=sys.stderr)
            out["sessions"] = await scenarios.sessions(target, plan)
        if "import" in chosen and name == "gateway":
            await asyncio.sleep(SETTLE_SECONDS)
            database = results / "gateway.sqlite3"
            out["import"] = await import_isolation.scenario(target, database, plan, scenarios.fleet)
    finally:
        out["exit_code"] = await target.stop()
    out["seconds"] = round(time.monotonic() - started, 1)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--results", type=Path, default=Path("bench-results"))
    parser.add_argument("--quick", action="store_true", help="a small network, short phases")
    parser.add_argument("--reuse-dataset", action="store_true", help="keep dataset.sqlite3")
    parser.add_argument("--targets", default=",".join(TARGETS), help="bare,ocpp,gateway")
    parser.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help="fixed (idle chargers, fixed rate, storm), saturation, sessions, import",
    )
    args = parser.parse_args(argv)
    plan = scenarios.Plan.quick() if args.quick else scenarios.Plan()
    chosen = [name.strip() for name in args.targets.split(",") if name.strip()]
    unknown = set(chosen) - set(TARGETS)
    if unknown:
        parser.error(f"unknown targets: {', '.join(sorted(unknown))}")
    phases = frozenset(name.strip() for name in args.scenarios.split(",") if name.strip())
    if phases - set(SCENARIOS):
        parser.error(f"unknown scenarios: {', '.join(sorted(phases - set(SCENARIOS)))}")
    results: Path = args.results
    results.mkdir(parents=True, exist_ok=True)
    limit = raise_open_file_limit(2 * plan.fixed_chargers + 1024)
    generator_cpu, server_cpu, notes = _pin()
    if limit < 2 * plan.fixed_chargers + 256:
        notes.append(f"open-file limit {limit} is low for {plan.fixed_chargers} chargers")
    template = results / "dataset.sqlite3"
    if args.reuse_dataset and template.exists():
        built: dict[str, Any] = {"reused": str(template)}
    else:
        print("building the dataset...", file=sys.stderr, flush=True)
        built = dataset.build(template, stations=plan.stations, members=plan.members)
    report: dict[str, Any] = {
        "meta": {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": "make bench" if not args.quick else "python -m bench --quick",
            "argv": sys.argv,
            "commit": _commit(),
            "python": platform.python_version(),
            "cpu": _cpu_model(),
            "cpus": os.cpu_count(),
            "generator_cpu": generator_cpu,
            "server_cpu": server_cpu,
            "open_file_limit": limit,
            "notes": notes,
        },
        "dataset": built,
        "plan": plan.__dict__,
        "targets": {},
    }
    for name in chosen:
        report["targets"][name] = asyncio.run(
            bench_target(name, results, template, server_cpu, plan, phases)
        )
    report["ratios"] = ratios(report["targets"])
    report["goals"] = goals(report["targets"], report["ratios"])
    output = results / "latest.json"
    output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(render(report))
    for found in (t["import"] for t in report["targets"].values() if "import" in t):
        print("\n".join(import_isolation.render(found)))
    print(f"\nfigures written to {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
