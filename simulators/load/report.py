"""The load summary as a table for people (the JSON summary is for machines)."""

from __future__ import annotations

from typing import Any

_HEAD = (
    f"  {'action':<20} {'sent':>8} {'answered':>9} {'errors':>7} {'rate/s':>9} "
    f"{'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}"
)


def _action_rows(actions: dict[str, Any]) -> list[str]:
    rows = [_HEAD]
    for name, a in actions.items():
        lat = a["latency_ms"]
        errors = a["callerrors"] + a["timeouts"] + a["closed"]
        rows.append(
            f"  {name:<20} {a['sent']:>8} {a['results'] + a['callerrors']:>9} {errors:>7} "
            f"{a['rate']:>9.1f} {lat['p50']:>8.2f} {lat['p95']:>8.2f} {lat['p99']:>8.2f} "
            f"{lat['max']:>8.2f}"
        )
        details = []
        if a.get("statuses"):
            details.append("statuses " + ", ".join(f"{k}={v}" for k, v in a["statuses"].items()))
        if a.get("callerror_codes"):
            details.append(
                "errors " + ", ".join(f"{k}={v}" for k, v in a["callerror_codes"].items())
            )
        if a["timeouts"] or a["closed"]:
            details.append(f"timeouts={a['timeouts']}, closed={a['closed']}")
        if details:
            rows.append("  " + " " * 21 + "; ".join(details))
    return rows


def format_summary(summary: dict[str, Any]) -> str:
    config = summary["config"]
    lines = [
        f"load: {config['chargers']} chargers (OCPP {config['ocpp']}) on {config['url']}, "
        f"mix {config['mix']}, "
        + (f"open loop at {config['rate']:g} units/s" if config["rate"] else "closed loop")
    ]
    connect = summary["connect"]
    lines.append(
        f"connect: {connect['connected']}/{connect['attempted']} connected and booted "
        f"in {connect['seconds']:.2f} s"
    )
    lines.extend(_action_rows(connect["actions"]))
    run = summary.get("run")
    if run is not None:
        lines.append(
            f"run: {run['seconds']:.2f} s, {run['sent']} calls, {run['answered']} answered, "
            f"{run['errors']} errors, {run['throughput']:.1f} answers/s"
        )
        if "sessions" in run:
            s = run["sessions"]
            lines.append(
                f"  sessions: {s.get('completed', 0)} completed ({s['rate']:.1f}/s), "
                f"{s.get('deauthorized', 0)} deauthorized, {s.get('failed', 0)} failed"
            )
        if "schedule_lag_ms" in run:
            lag = run["schedule_lag_ms"]
            lines.append(
                f"  schedule lag: p50 {lag['p50']:.2f} ms, p99 {lag['p99']:.2f} ms, "
                f"max {lag['max']:.2f} ms"
            )
        lines.extend(_action_rows(run["actions"]))
    storm = summary.get("storm")
    if storm is not None:
        after = storm["seconds_to_all_booted"]
        lines.append(
            f"storm: {storm['rebooted']}/{storm['chargers']} booted again"
            + (f", all after {after:.2f} s" if after is not None else "")
        )
        lines.extend(_action_rows(storm["actions"]))
    extra = {k: summary[k] for k in ("late_replies", "unexpected_frames") if summary.get(k)}
    if summary.get("server_calls"):
        extra["gateway CALLs answered"] = summary["server_calls"]
    if extra:
        lines.append("other: " + ", ".join(f"{k} {v}" for k, v in extra.items()))
    return "\n".join(lines)
