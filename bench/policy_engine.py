"""Policy engine benchmark: decision latency, memory, cache build and patch at scale.

Builds a real gateway database (the gateway's own migrations) with N members
and tokens, S stations on S/100 sites, groups with caps and hours, member
exceptions, and usage for a tenth of the members; then measures, in this
process and the way the gateway runs:

- the time to read the rows and build the snapshot (what a gateway does at
  start and on a rebuild) and the memory it holds; the snapshot is then
  frozen out of the garbage collector's sight, as the gateway freezes it;
- `decide()` latency per call (p50, p99, p99.9, max, in microseconds) over
  rounds of requests mixing accepted tokens, refusals of every kind, and
  members with usage; the clock moves forward between requests as it does
  in a gateway; the garbage collector runs as in the gateway (nothing is
  excluded: its pauses, the timer's own cost and whatever else the machine
  does show in the figures; the timer's cost is printed for reference);
- `begin_start` (decision + atomic reservation) latency;
- patching one member into the snapshot: the engine's part alone, and with
  the database read (`Gateway.refresh_cache`'s cost).

The VM is shared: each round starts once other processes are quiet (or after
a minute), and reports the cores they used meanwhile.

Usage: python bench/policy_engine.py [--members 1000000] [--stations 10000]
       [--decisions 200000] [--rounds 5] [--json bench-results/policy_engine.json]
A benchmark prints figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import multiprocessing
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.procstat import host_cpu, self_cpu
from gateway.policy_cache.cache import PolicyCache
from gateway.policy_cache.loader import build_snapshot, gc_paused, load_usage, member_change
from gateway.policy_engine import AuthRequest, Purpose
from gateway.store.database import Database
from gateway.store.policies import PolicyStore

NOW = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
T = TypeVar("T")  # a Tuesday morning in Europe/Paris


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * 4096 / 2**20


async def create_schema(path: Path) -> None:
    db = Database(path)
    await db.open()
    await db.close()


def fill(path: Path, members: int, stations: int, rng: random.Random) -> None:
    stamp = NOW.isoformat()
    con = sqlite3.connect(path)
    con.execute("PRAGMA synchronous = OFF")
    with con:
        con.execute(
            "INSERT INTO organisations (id, name, timezone, currency, price_per_kwh, session_fee,"
            " group_token, created_at) VALUES (1, 'bench', 'Europe/Paris', 'EUR', '30', 50,"
            " 'BENCH', ?)",
            (stamp,),
        )
        sites = max(1, stations // 100)
        con.executemany(
            "INSERT INTO sites (id, organisation_id, name) VALUES (?, 1, ?)",
            [(i, f"site-{i}") for i in range(1, sites + 1)],
        )
        con.executemany(
            "INSERT INTO stations (charge_point_id, organisation_id, password_hash, site_id,"
            " created_at) VALUES (?, 1, 'x', ?, ?)",
            [(f"CP-{i}", 1 + i % sites, stamp) for i in range(stations)],
        )
        con.executemany(
            "INSERT INTO groups (id, organisation_id, name) VALUES (?, 1, ?)",
            [(g, f"group-{g}") for g in range(1, 51)],
        )
        statuses = ["Active"] * 96 + ["Inactive", "Inactive", "Pending", "Pending"]
        con.executemany(
            "INSERT INTO members (id, organisation_id, first_name, last_name, email, status,"
            " created_at, updated_at) VALUES (?, 1, 'M', ?, ?, ?, ?, ?)",
            [
                (m, str(m), f"m{m}@example.org", rng.choice(statuses), stamp, stamp)
                for m in range(1, members + 1)
            ],
        )
        con.executemany(
            "INSERT INTO member_groups (member_id, group_id) VALUES (?, ?)",
            [(m, 1 + m % 50) for m in range(1, members + 1)],
        )
        token_status = ["Active"] * 98 + ["Blocked", "Lost"]
        con.executemany(
            "INSERT INTO tokens (value, value_key, type, member_id, status, created_at)"
            " VALUES (?, ?, 'ISO14443', ?, ?, ?)",
            [
                (f"{m:08X}", f"{m:08X}", m, rng.choice(token_status), stamp)
                for m in range(1, members + 1)
            ],
        )
        weekdays = ["mon", "tue", "wed", "thu", "fri"]
        policies = [
            (
                1,
                "organisation",
                1,
                json.dumps(
                    {
                        "all_stations": True,
                        "hours": [
                            {"days": weekdays, "start": "06:00", "end": "22:00"},
                            {"days": ["sat", "sun"], "start": "08:00", "end": "20:00"},
                        ],
                        "max_concurrent": 1,
                    }
                ),
            )
        ]
        for g in range(1, 51):
            body: dict[str, object] = {
                "amount_caps": [{"limit": str(20 + g), "period": "month"}],
                "session_caps": [{"limit": 30, "period": "month"}],
            }
            if g % 5 == 0:
                body["sites"] = [f"site-{1 + g % sites}", f"site-{1 + (g * 7) % sites}"]
            if g % 7 == 0:
                body["energy_caps_kwh"] = [{"limit": 200, "period": "rolling:7"}]
            policies.append((1, "group", g, json.dumps(body)))
        for m in range(1, members + 1, 100):  # 1% of members have an exception
            policies.append(
                (
                    1,
                    "member",
                    m,
                    json.dumps(
                        {"hours": [{"days": [*weekdays, "sat"], "start": "22:00", "end": "07:00"}]}
                    ),
                )
            )
        con.executemany(
            "INSERT INTO policies (organisation_id, scope_kind, scope_id, body, updated_at)"
            " VALUES (?, ?, ?, ?, ?)",
            [(*p, stamp) for p in policies],
        )
        rows = []
        for m in range(1, members + 1, 10):  # a tenth of the members charged recently
            for s in range(3):
                start = NOW - timedelta(days=rng.randrange(0, 40), hours=rng.randrange(0, 24))
                rows.append(
                    (
                        f"CP-{rng.randrange(stations)}",
                        f"{m:08X}",
                        m,
                        start.isoformat(),
                        rng.randrange(1000, 30_000),
                        s,
                    )
                )
        con.executemany(
            "INSERT INTO transactions (charge_point_id, ocpp_version, id_token, member_id,"
            " auth_status, started_at, state, energy_wh, meter_start_wh, meter_stop_wh,"
            " connector_id, created_at, updated_at) VALUES (?, '1.6', ?, ?, 'Accepted', ?,"
            " 'Ended', ?, 0, 0, ?, '', '')",
            rows,
        )
    con.close()


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(samples: list[float]) -> dict[str, float]:
    return {
        "p50": round(percentile(samples, 0.5), 2),
        "p99": round(percentile(samples, 0.99), 2),
        "p99.9": round(percentile(samples, 0.999), 1),
        "max": round(max(samples), 1),
        "mean": round(statistics.fmean(samples), 2),
    }


def other_cores(work: Callable[..., T], *args: Any) -> tuple[float, T]:
    """`work(*args)`, and the cores that other processes used on average meanwhile."""
    busy0, _ = host_cpu()
    own0, wall0 = self_cpu(), time.monotonic()
    result = work(*args)
    busy1, _ = host_cpu()
    own, wall = self_cpu() - own0, time.monotonic() - wall0
    return max(0.0, (busy1 - busy0 - own) / wall), result


def wait_for_quiet_host(limit: float = 0.3, patience: float = 60.0) -> float:
    """Wait (at most `patience` s) until other processes use less than `limit` cores over a
    second; the last reading. The VM is shared: its other tenants' work shows in any
    latency measured here, so a round starts when they are quiet, and says how busy they
    were meanwhile (nothing measured is left out)."""
    deadline = time.monotonic() + patience
    while True:
        others, _ = other_cores(time.sleep, 1.0)
        if others < limit or time.monotonic() > deadline:
            return others


class GcCount:
    """Collections the garbage collector ran, by generation, while counting."""

    def __init__(self) -> None:
        self.runs = [0, 0, 0]

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self.runs[info["generation"]] += 1


def timed_decisions(
    cache: PolicyCache, requests: list[AuthRequest], nows: list[datetime]
) -> list[float]:
    clock = time.perf_counter_ns
    samples = []
    for request, now in zip(requests, nows, strict=True):
        t0 = clock()
        cache.decide(request, now)
        samples.append((clock() - t0) / 1000)
    return samples


async def patch_costs(store: PolicyStore, cache: PolicyCache, members: int) -> dict[str, float]:
    """One member patched in: the engine's part, and with the database read."""
    rng = random.Random(11)
    snapshot = cache.snapshot
    engine, total = [], []
    for _ in range(200):
        ids = frozenset({rng.randrange(1, members + 1)})
        t0 = time.perf_counter_ns()
        rows = await store.member_rows(ids, snapshot.token_values(ids))
        t1 = time.perf_counter_ns()
        patched = snapshot.patched(member_change(rows, ids))
        t2 = time.perf_counter_ns()
        engine.append((t2 - t1) / 1000)
        total.append((t2 - t0) / 1000)
        assert patched.members.get(next(iter(ids))) == snapshot.members.get(next(iter(ids)))
    store.close_readers()
    return {
        "engine_p50_us": round(percentile(engine, 0.5), 1),
        "with_read_p50_us": round(percentile(total, 0.5), 1),
        "with_read_p99_us": round(percentile(total, 0.99), 1),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--stations", type=int, default=10_000)
    parser.add_argument("--decisions", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", type=Path, default=Path("bench-results/policy_engine.json"))
    args = parser.parse_args()
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.sqlite3"
        await create_schema(path)
        started = time.perf_counter()
        # In a process of its own: a gateway's heap never held the million rows a fill
        # makes, and the holes they would leave here would scatter the snapshot in memory.
        filling = multiprocessing.get_context("spawn").Process(
            target=fill, args=(path, args.members, args.stations, random.Random(7))
        )
        filling.start()
        await asyncio.to_thread(filling.join)
        if filling.exitcode != 0:
            raise SystemExit(f"filling the database failed ({filling.exitcode})")
        fill_s = time.perf_counter() - started

        gc.collect()
        rss_before = rss_mib()
        db = Database(path)
        await db.open()
        store = PolicyStore(db)
        with gc_paused():  # as the gateway's rebuild does, timed in its two steps
            started = time.perf_counter()
            rows = await store.rows()
            read_s = time.perf_counter() - started
            started = time.perf_counter()
            snapshot = await asyncio.to_thread(build_snapshot, rows)
            build_s = time.perf_counter() - started
            del rows
            started = time.perf_counter()
            usage = await load_usage(store, snapshot, NOW)
            usage_s = time.perf_counter() - started
            started = time.perf_counter()
            gc.freeze()  # as the gateway does once the snapshot is swapped in
            freeze_s = time.perf_counter() - started
        rss_after = rss_mib()
        cache = PolicyCache(timedelta(days=1))
        cache.load(snapshot, usage)
        patch = await patch_costs(store, cache, args.members)
        await db.close()
    started = time.perf_counter()
    gc.collect()  # what a rebuild collects first: all but the frozen snapshot
    collect_s = time.perf_counter() - started

    tokens = [f"{m:08X}" for m in range(1, args.members + 1)]
    statuses: dict[str, int] = {}
    rounds, all_samples = [], []
    counted = GcCount()
    for _ in range(args.rounds):
        requests = [
            AuthRequest(
                rng.choice(tokens) if rng.random() > 0.02 else "NOBODY",
                f"CP-{rng.randrange(args.stations)}",
            )
            for _ in range(args.decisions)
        ]
        # The clock moves on 50 us per request, as in a gateway (10 s per round).
        nows = [NOW + timedelta(microseconds=50 * i) for i in range(len(requests))]
        timed_decisions(cache, requests[:20_000], nows[:20_000])  # warm-up: memos, caches
        before = wait_for_quiet_host()
        gc.callbacks.append(counted)
        others, samples = other_cores(timed_decisions, cache, requests, nows)
        gc.callbacks.remove(counted)
        rounds.append(
            {**summary(samples), "other_cpu_cores": round(others, 2), "before": round(before, 2)}
        )
        all_samples.extend(samples)
    for request in requests[:20_000]:
        decision = cache.decide(request, NOW)
        statuses[decision.status.value] = statuses.get(decision.status.value, 0) + 1
    start_samples = []
    for request in requests[: args.decisions // 10]:
        start = AuthRequest(request.token, request.station_id, Purpose.START)
        t0 = time.perf_counter_ns()
        cache.begin_start(start, NOW)
        start_samples.append((time.perf_counter_ns() - t0) / 1000)
    timer = []
    for _ in range(100_000):
        t0 = time.perf_counter_ns()
        timer.append((time.perf_counter_ns() - t0) / 1000)

    p99s = sorted(r["p99"] for r in rounds)
    p50s = sorted(r["p50"] for r in rounds)
    figures = {
        "members": args.members,
        "tokens": len(snapshot.tokens),
        "stations": args.stations,
        "policies": len(snapshot.policies),
        "members_with_usage": sum(1 for u in usage.values() if u.days),
        "database_fill_s": round(fill_s, 2),
        "cache_build_s": round(read_s + build_s, 2),
        "cache_build_read_rows_s": round(read_s, 2),
        "cache_build_snapshot_s": round(build_s, 2),
        "usage_rebuild_s": round(usage_s, 2),
        "gc_freeze_ms": round(freeze_s * 1000, 2),
        "gc_collect_before_rebuild_ms": round(collect_s * 1000, 1),
        "cache_memory_mib": round(rss_after - rss_before, 1),
        "decide_us": {
            "p50_median": p50s[len(p50s) // 2],
            "p99_median": p99s[len(p99s) // 2],
            "p99_range": [p99s[0], p99s[-1]],
            "all_rounds": summary(all_samples),
            "rounds": rounds,
        },
        "gc_collections_while_deciding": counted.runs,
        "timer_overhead_us": {"p50": percentile(timer, 0.5), "p99": percentile(timer, 0.99)},
        "begin_start_us": summary(start_samples),
        "patch_one_member": patch,
        "statuses": dict(sorted(statuses.items())),
        "targets": {"decide_p99_us": 20, "cache_build_s": 10},
    }
    print(
        f"policy engine, {figures['tokens']:,} tokens, {args.stations:,} stations, "
        f"{figures['policies']:,} policies"
    )
    print(
        f"  cache build     {figures['cache_build_s']:>8} s   (rows {read_s:.2f} s + "
        f"snapshot {build_s:.2f} s; target < 10 s)"
    )
    print(f"  usage rebuild   {figures['usage_rebuild_s']:>8} s")
    print(f"  cache memory    {figures['cache_memory_mib']:>8} MiB")
    print(
        f"  gc              freeze {figures['gc_freeze_ms']} ms, collect before a rebuild "
        f"{figures['gc_collect_before_rebuild_ms']} ms"
    )
    a = figures["decide_us"]["all_rounds"]
    print(
        f"  decide          p50 {p50s[len(p50s) // 2]} us  p99 {p99s[len(p99s) // 2]} us "
        f"(median of {args.rounds} rounds of {args.decisions:,}; p99 range {p99s[0]}-{p99s[-1]}; "
        f"target p99 < 20 us)"
    )
    print(f"                  all rounds: p99.9 {a['p99.9']} us  max {a['max']} us")
    print(
        f"                  gc collections meanwhile (gen 0/1/2): {counted.runs}; "
        f"timer cost p50 {figures['timer_overhead_us']['p50']} us"
    )
    print(
        "                  cores used by other processes during each round: "
        + ", ".join(str(r["other_cpu_cores"]) for r in rounds)
    )
    b = figures["begin_start_us"]
    print(f"  begin_start     p50 {b['p50']} us  p99 {b['p99']} us")
    print(
        f"  patch 1 member  {patch['engine_p50_us']} us (engine), {patch['with_read_p50_us']} us "
        f"with the database read (p99 {patch['with_read_p99_us']} us)"
    )
    print(f"  outcomes        {figures['statuses']}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
