"""Policy engine benchmark: decision latency, memory and cache build time at scale.

Builds a real gateway database (the gateway's own migrations) with N members
and tokens, S stations on S/100 sites, groups with caps and hours, member
exceptions, and usage for a tenth of the members; then measures, in this
process:

- the time to read the rows and build the snapshot (what a gateway does at
  start and on a reload) and the memory it holds;
- `decide()` latency per call (p50, p99, max, in microseconds) over a sample
  of requests mixing accepted tokens, refusals of every kind, and members with
  usage;
- `begin_start` (decision + atomic reservation) latency.

Usage: python bench/policy_engine.py [--members 1000000] [--stations 10000]
       [--decisions 200000] [--json bench-results/policy_engine.json]
A benchmark prints figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.policy_cache.cache import PolicyCache
from gateway.policy_cache.loader import build_snapshot, gc_paused, load_usage
from gateway.policy_engine import AuthRequest, Purpose
from gateway.store.database import Database
from gateway.store.policies import PolicyStore

NOW = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)  # a Tuesday morning in Europe/Paris


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


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--stations", type=int, default=10_000)
    parser.add_argument("--decisions", type=int, default=200_000)
    parser.add_argument("--json", type=Path, default=Path("bench-results/policy_engine.json"))
    args = parser.parse_args()
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.sqlite3"
        await create_schema(path)
        started = time.perf_counter()
        fill(path, args.members, args.stations, rng)
        fill_s = time.perf_counter() - started

        gc.collect()
        rss_before = rss_mib()
        db = Database(path)
        await db.open()
        store = PolicyStore(db)
        with gc_paused():  # as load_snapshot does, timed in its two steps
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
        await db.close()
        gc.collect()
        rss_after = rss_mib()

    cache = PolicyCache(timedelta(days=1))
    cache.load(snapshot, usage)
    tokens = [f"{m:08X}" for m in range(1, args.members + 1)]
    requests = [
        AuthRequest(
            rng.choice(tokens) if rng.random() > 0.02 else "NOBODY",
            f"CP-{rng.randrange(args.stations)}",
        )
        for _ in range(args.decisions)
    ]
    statuses: dict[str, int] = {}
    for request in requests[:20_000]:  # warm-up: policy memo, caches
        cache.decide(request, NOW)
    gc.disable()
    samples = []
    clock = time.perf_counter_ns
    for request in requests:
        t0 = clock()
        decision = cache.decide(request, NOW)
        samples.append((clock() - t0) / 1000)
        statuses[decision.status.value] = statuses.get(decision.status.value, 0) + 1
    start_samples = []
    for request in requests[: args.decisions // 10]:
        start = AuthRequest(request.token, request.station_id, Purpose.START)
        t0 = clock()
        cache.begin_start(start, NOW)
        start_samples.append((clock() - t0) / 1000)
    gc.enable()

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
        "cache_memory_mib": round(rss_after - rss_before, 1),
        "decide_us": {
            "p50": round(percentile(samples, 0.5), 2),
            "p99": round(percentile(samples, 0.99), 2),
            "max": round(max(samples), 1),
            "mean": round(statistics.fmean(samples), 2),
        },
        "begin_start_us": {
            "p50": round(percentile(start_samples, 0.5), 2),
            "p99": round(percentile(start_samples, 0.99), 2),
        },
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
    d = figures["decide_us"]
    print(
        f"  decide          p50 {d['p50']} us  p99 {d['p99']} us  max {d['max']} us "
        f"(target p99 < 20 us)"
    )
    b = figures["begin_start_us"]
    print(f"  begin_start     p50 {b['p50']} us  p99 {b['p99']} us")
    print(f"  outcomes        {figures['statuses']}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
