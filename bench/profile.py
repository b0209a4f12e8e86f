"""Where the gateway spends its time under load, sampled or traced around a real process.

``python -m bench.profile [--mix authorize] [--chargers 100] [--duration 10]``
builds (or reuses) the benchmark database, starts the gateway pinned to one
core, drives it with the load generator from the other and prints the
functions with the largest share of the gateway's samples, by their own
time and including what they call.

* ``--tool py-spy`` (the default when a ``py-spy`` binary is on the PATH or
  given with ``--py-spy``): samples the unmodified gateway 100 times a
  second without pausing it; the shares are those of the event loop's
  thread, the collapsed stacks are kept in ``bench-results/profile-<mix>.txt``.
  Install it apart from the project, e.g. ``pip install --target /tmp/pyspy
  py-spy`` then ``--py-spy /tmp/pyspy/bin/py-spy``.
* ``--tool cprofile``: ``python -m cProfile -m gateway run``, stopped with
  SIGTERM (cProfile then writes ``bench-results/profile-<mix>.prof``, for
  ``python -m pstats``). It slows Python code down by about half again and C
  code much less: read the shares, not the absolute times.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import pstats
import re
import shutil
import sys
from collections import Counter
from pathlib import Path

from bench import dataset
from bench.targets import Target, pinned, start_gateway
from simulators.load.cli import raise_open_file_limit
from simulators.load.fleet import Fleet, numbered_chargers
from simulators.load.mix import Mix

_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^:()]*)(?::\d+)?\)$")


async def _profiled_gateway(database: Path, profile: Path, log: Path, cpu: int | None) -> Target:
    env = {**os.environ, "OCPP_GATEWAY_LOG__FORMAT": "json"}
    command = [
        sys.executable,
        *("-m", "cProfile", "-o", str(profile), "-m", "gateway"),
        *("--database", str(database), "run"),
        *("--ocpp-host", "127.0.0.1", "--ocpp-port", "0", "--http-port", "0"),
    ]
    handle = log.open("w+b")
    process = await asyncio.create_subprocess_exec(
        *pinned(command, cpu), stdout=asyncio.subprocess.DEVNULL, stderr=handle, env=env
    )
    for _ in range(1800):
        port = _started_port(log)
        if port is not None:
            return Target("gateway", process, f"ws://127.0.0.1:{port}", handle)
        if process.returncode is not None:
            raise RuntimeError(f"the gateway exited; see {log}")
        await asyncio.sleep(0.1)
    raise RuntimeError("the gateway did not start")


def _started_port(log: Path) -> int | None:
    for line in log.read_text(errors="replace").splitlines():
        if '"gateway started"' in line:
            return int(line.split('"ocpp_port": ')[1].split(",")[0])
    return None


def cprofile_top(profile: Path, limit: int) -> str:
    out = io.StringIO()
    stats = pstats.Stats(str(profile), stream=out)
    stats.strip_dirs()
    stats.sort_stats("tottime").print_stats(limit)
    stats.sort_stats("cumulative").print_stats(limit)
    return out.getvalue()


def _frame_name(frame: str) -> str:
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip()
    file = match["file"]
    for marker in ("/site-packages/", "/lib/python3"):
        if marker in file:
            file = file.split(marker, 1)[1]
    if "/work/" in file or file.startswith("/"):
        file = file.rsplit("/main/", 1)[-1]
    return f"{match['function']} ({file})"


def collapsed_top(collapsed: Path, limit: int) -> str:
    """Shares of the event loop thread's samples by function: own time (innermost frame)
    and including callees (anywhere in the stack). Other threads (the SQLite writer,
    the thread pool) are counted apart: py-spy samples them even while they wait."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = others = 0
    for line in collapsed.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame_name(f) for f in stack.split(";") if f]
        if not frames or not frames[0].startswith("_run_module_as_main"):
            others += count
            continue
        samples += count
        own[frames[-1]] += count
        for name in set(frames):
            total[name] += count
    waiting = own["EpollSelector.select (selectors.py)"]
    lines = [
        f"{samples} samples of the event loop thread ({100 * waiting / max(samples, 1):.1f}% "
        f"of them waiting in epoll), {others} of other threads"
    ]
    for title, counter in (("own time", own), ("including callees", total)):
        lines.append(f"\n-- by {title} --")
        for name, count in counter.most_common(limit):
            lines.append(f"{100 * count / max(samples, 1):6.1f}%  {name}")
    return "\n".join(lines)


async def _record(py_spy: str, pid: int, seconds: float, output: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        py_spy,
        *("record", "--pid", str(pid), "--duration", str(int(seconds))),
        *("--rate", "100", "--format", "raw", "--output", str(output)),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    await asyncio.wait_for(process.wait(), seconds + 60)


def _prepare(args: argparse.Namespace) -> Path:
    results: Path = args.results
    results.mkdir(parents=True, exist_ok=True)
    template = results / "dataset.sqlite3"
    if not template.exists():
        print(dataset.build(template, stations=args.stations, members=args.members))
    database = results / "profile.sqlite3"
    for suffix in ("-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(template, database)
    return database


async def profile(args: argparse.Namespace, database: Path, tool: str) -> str:
    """Run the gateway under load while profiling it; the report."""
    cpus = sorted(os.sched_getaffinity(0))
    gateway_cpu = cpus[-1] if len(cpus) >= 2 else None
    if gateway_cpu is not None:
        os.sched_setaffinity(0, {cpus[0]})
    name = args.mix.split("=")[0].split(",")[0]
    results: Path = args.results
    log = results / "profile-gateway.log"
    prof = results / f"profile-{name}.prof"
    if tool == "cprofile":
        gateway = await _profiled_gateway(database, prof, log, gateway_cpu)
    else:
        gateway = await start_gateway(database, log, gateway_cpu)
    collapsed = results / f"profile-{name}.txt"
    try:
        session = "session" in args.mix
        tokens = (dataset.session_tokens if session else dataset.authorize_tokens)(args.members)
        specs = numbered_chargers(
            args.chargers,
            prefix="BENCH-CP-",
            password=dataset.STATION_PASSWORD,
            versions=("1.6", "2.0.1"),
        )
        async with Fleet(gateway.url, specs, tokens) as fleet:
            await fleet.connect()
            running = fleet.run(Mix.parse(args.mix), duration=args.duration)
            if tool == "py-spy":
                recording = _record(args.py_spy, gateway.pid, args.duration - 1, collapsed)
                run, _ = await asyncio.gather(running, recording)
            else:
                run = await running
    finally:
        await gateway.stop(timeout=120)
    header = f"{run['answered']} answers, {run['throughput']:.0f}/s while profiled ({tool})\n"
    if tool == "py-spy":
        return header + collapsed_top(collapsed, args.limit)
    return header + cprofile_top(prof, args.limit)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mix", default="authorize")
    parser.add_argument("--chargers", type=int, default=100)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--stations", type=int, default=5000)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--results", type=Path, default=Path("bench-results"))
    parser.add_argument("--limit", type=int, default=30)
    parser.add_argument("--tool", choices=["auto", "py-spy", "cprofile"], default="auto")
    parser.add_argument("--py-spy", default=shutil.which("py-spy"), help="py-spy binary")
    args = parser.parse_args(argv)
    tool = args.tool
    if tool == "auto":
        tool = "py-spy" if args.py_spy else "cprofile"
    if tool == "py-spy" and not args.py_spy:
        parser.error("py-spy not found; give --py-spy PATH or --tool cprofile")
    database = _prepare(args)
    raise_open_file_limit(4 * args.chargers + 256)
    print(asyncio.run(profile(args, database, tool)))


if __name__ == "__main__":
    main()
