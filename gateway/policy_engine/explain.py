"""`explain`: a decision and every rule it checked, as text for people.

Pure formatting of a `Decision` (the CLI prints it, tests read it): decide
with `decide(..., explain=True)` for the checks to be listed. A token value
never appears: decisions do not carry it.
"""

from __future__ import annotations

from .decision import Decision, Reason


def explain(decision: Decision) -> str:
    """Multi-line description: outcome per OCPP version, reason, expiry, checks."""
    lines = [
        f"decision: {decision.status.value} "
        f"(OCPP 2.0.1 {decision.ocpp201_status()}, OCPP 1.6 {decision.ocpp16_status()})",
        f"reason: {_line(decision.reason)}",
        f"expires at: {decision.expires_at.isoformat() if decision.expires_at else 'not set'}",
        f"member: {decision.member_id if decision.member_id is not None else '-'}"
        f"  group token: {decision.group_id if decision.group_id is not None else '-'}",
    ]
    if decision.flagged is not None:
        lines.append(f"flagged (offline): {_line(decision.flagged)}")
    if not decision.checks:
        lines.append("checks: not recorded (decide with explain=True to list them)")
        return "\n".join(lines)
    lines.append("checks:")
    lines.extend(f"  {_mark(check)} {_line(check)}" for check in decision.checks)
    return "\n".join(lines)


def _mark(reason: Reason) -> str:
    if reason.passed is None:
        return "[ -- ]"
    return "[ ok ]" if reason.passed else "[FAIL]"


def _line(reason: Reason) -> str:
    parts = [str(reason.rule)]
    if reason.limit is not None:
        parts.append(f"limit={reason.limit}")
    if reason.value is not None:
        parts.append(f"value={reason.value}")
    return " ".join(parts)
