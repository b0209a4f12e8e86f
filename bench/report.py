"""The benchmark's table, the gateway's ratios against the references, and the goals."""

from __future__ import annotations

from typing import Any

REFERENCES = ("bare", "ocpp")
GOALS = {
    "authorize_saturation_vs_bare": ("Authorize saturation, peak, vs bare websockets", ">=", 0.7),
    "fixed_rate_p99_ms": ("p99 Authorize at the fixed rate (ms)", "<", 2.0),
    "sessions_per_second": ("full sessions per second (durable)", ">=", 500.0),
    "rss_per_idle_charger_kib": ("RSS per idle connected charger (KiB)", "<", 50.0),
}


def _get(data: dict[str, Any], *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return round(a / b, 3)


def _saturation_sizes(figures: dict[str, Any]) -> list[str]:
    return sorted((k for k in figures if k.startswith("authorize-")), key=lambda k: int(k[10:]))


def peak_authorize(figures: dict[str, Any]) -> float | None:
    rates = [_get(figures, k, "throughput") for k in _saturation_sizes(figures)]
    known = [r for r in rates if r is not None]
    return max(known) if known else None


def headline(figures: dict[str, Any]) -> dict[str, float | None]:
    """The numbers compared between targets."""
    idle = _get(figures, "idle", "rss_per_charger_bytes")
    out: dict[str, float | None] = {
        "authorize_peak_per_second": peak_authorize(figures),
        "fixed_rate_p99_ms": _get(
            figures, "fixed-rate", "actions", "Authorize", "latency_ms", "p99"
        ),
        "fixed_rate_p50_ms": _get(
            figures, "fixed-rate", "actions", "Authorize", "latency_ms", "p50"
        ),
        "sessions_per_second": _get(figures, "sessions", "sessions", "rate"),
        "storm_seconds": _get(figures, "storm", "seconds_to_all_booted"),
        "rss_per_idle_charger_kib": None if idle is None else round(idle / 1024, 1),
        "cpu_seconds_per_1000_authorize": _get(
            figures, "authorize-100", "target_cpu_per_1000_calls"
        ),
        "cpu_seconds_per_1000_session_calls": _get(
            figures, "sessions", "target_cpu_per_1000_calls"
        ),
    }
    for key in _saturation_sizes(figures):
        out[f"{key}_per_second"] = _get(figures, key, "throughput")
    return out


def ratios(by_target: dict[str, dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """gateway / reference for every headline number (throughputs: higher is better;
    latencies, seconds, memory and CPU: lower is better)."""
    if "gateway" not in by_target:
        return {}
    mine = headline(by_target["gateway"])
    out = {}
    for ref in REFERENCES:
        if ref in by_target:
            theirs = headline(by_target[ref])
            out[f"gateway/{ref}"] = {k: _ratio(mine[k], theirs.get(k)) for k in mine}
    return out


def goals(
    by_target: dict[str, dict[str, Any]], ratio: dict[str, dict[str, float | None]]
) -> dict[str, dict[str, Any]]:
    if "gateway" not in by_target:
        return {}
    mine = headline(by_target["gateway"])
    values = {
        "authorize_saturation_vs_bare": _get(ratio, "gateway/bare", "authorize_peak_per_second"),
        "fixed_rate_p99_ms": mine["fixed_rate_p99_ms"],
        "sessions_per_second": mine["sessions_per_second"],
        "rss_per_idle_charger_kib": mine["rss_per_idle_charger_kib"],
    }
    out = {}
    for key, (label, op, limit) in GOALS.items():
        value = values[key]
        met = None if value is None else (value >= limit if op == ">=" else value < limit)
        out[key] = {"label": label, "value": value, "goal": f"{op} {limit:g}", "met": met}
    return out


def _f(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _row(scenario: str, target: str, data: dict[str, Any], action: str, rate: Any) -> str:
    lat = _get(data, "actions", action, "latency_ms") or {}
    return (
        f"{scenario:<26} {target:<8} {_f(rate, 1):>10} {_f(lat.get('p50')):>8} "
        f"{_f(lat.get('p95')):>8} {_f(lat.get('p99')):>8} {_f(lat.get('max')):>8} "
        f"{_f(data.get('target_cpu_per_1000_calls'), 3):>9} "
        f"{_f(data.get('generator_cpu_share')):>7} {_f(data.get('other_cpu_cores')):>7} "
        f"{_f(data.get('errors'), 0):>6}"
    )


def render(report: dict[str, Any]) -> str:
    meta, by_target = report["meta"], report["targets"]
    plan = report["plan"]
    lines = [
        f"ocpp-gateway benchmark, {meta['date']}, commit {meta['commit']}, {meta['cpu']}, "
        f"{meta['cpus']} CPUs, Python {meta['python']}",
        f"generator on CPU {meta['generator_cpu']}, servers on CPU {meta['server_cpu']}; "
        f"dataset {report['dataset']}",
        *(f"note: {note}" for note in meta["notes"]),
        "",
        f"{'scenario':<26} {'target':<8} {'rate/s':>10} {'p50 ms':>8} {'p95 ms':>8} "
        f"{'p99 ms':>8} {'max ms':>8} {'CPU s/1k':>9} {'gen CPU':>7} {'others':>7} {'errors':>6}",
    ]
    names = list(by_target)
    sizes = _saturation_sizes(next(iter(by_target.values()), {}))
    for key in sizes:
        for name in names:
            data = by_target[name].get(key, {})
            label = f"Authorize sat., {key[10:]} ch." if name == names[0] else ""
            lines.append(_row(label, name, data, "Authorize", data.get("throughput")))
    fixed = f"Authorize {plan['fixed_rate']:g}/s, {plan['fixed_chargers']} ch."
    for name in names:
        data = by_target[name].get("fixed-rate", {})
        lines.append(
            _row(fixed if name == names[0] else "", name, data, "Authorize", data.get("throughput"))
        )
    session_actions = {"1.6": "StopTransaction"}
    for name in names:
        data = by_target[name].get("sessions", {})
        label = f"sessions/s, {plan['session_chargers']} ch." if name == names[0] else ""
        lines.append(
            _row(label, name, data, session_actions["1.6"], _get(data, "sessions", "rate"))
        )
    for name in names:
        data = by_target[name].get("sessions", {})
        label = "  (session calls/s, MV)" if name == names[0] else ""
        lines.append(_row(label, name, data, "MeterValues", data.get("throughput")))
    lines.append("")
    lines.append(
        f"{'':<26} {'target':<8} {'storm: s to all booted':>24} {'SYN drops':>10} "
        f"{'connect s':>10} {'RSS KiB/idle charger':>21}"
    )
    for name in names:
        data = by_target[name]
        idle = _get(data, "idle", "rss_per_charger_bytes")
        lines.append(
            f"{(str(plan['fixed_chargers']) + ' chargers') if name == names[0] else '':<26} "
            f"{name:<8} {_f(_get(data, 'storm', 'seconds_to_all_booted')):>24} "
            f"{_f(_get(data, 'storm', 'listen_overflows')):>10} "
            f"{_f(_get(data, 'idle', 'connect', 'seconds')):>10} "
            f"{_f(None if idle is None else idle / 1024, 1):>21}"
        )
    if report.get("ratios"):
        lines.append("")
        lines.append("gateway ratios (throughput: higher is better; the rest: lower is better)")
        keys = list(next(iter(report["ratios"].values())))
        header = f"  {'figure':<38}" + "".join(f"{ref:>16}" for ref in report["ratios"])
        lines.append(header)
        for key in keys:
            cells = "".join(f"{_f(r.get(key), 3):>16}" for r in report["ratios"].values())
            lines.append(f"  {key:<38}{cells}")
    if report.get("goals"):
        lines.append("")
        lines.append("goals")
        for goal in report["goals"].values():
            verdict = {True: "met", False: "MISSED", None: "not measured"}[goal["met"]]
            lines.append(
                f"  {goal['label']:<48} {_f(goal['value'], 3):>10} {goal['goal']:>8}  {verdict}"
            )
    lines.append("")
    lines.append(
        "CPU s/1k: the target's CPU seconds per 1,000 CALLs answered. gen CPU: share of a "
        "core the load generator used (near 1.00: the generator, not the target, was the "
        "limit). others: cores used by other processes on the host meanwhile (a shared "
        "machine's noise; above 0.2 the measurement was made twice, the quieter kept)."
    )
    return "\n".join(lines)
