"""Running sessions: the start reservation and the mid-session verdict.

`reserve_start` is `caps.reserve` with the member's policy and zone taken
from the snapshot: what the cache calls after an accepted StartTransaction /
TransactionEvent(Started).

`recheck_running` is what the gateway asks after each meter value and after
each reload (OCPP 1.6 §4.7 MeterValues, 2.0.1 E02 TransactionEvent(Updated)):
must this session end? It ends when

1. its token is no longer known, or is Blocked / Lost     → Blocked / Unknown
2. its member is gone or deactivated (Inactive)           → Blocked
3. the member's spend or energy, over a period holding
   the session's start day, has reached an amount/energy
   cap (actual use, not holds: `caps.check_running_caps`) → NoCredit

Allowed hours and station rules are checked at start only: a session started
inside its window may run past the window's end. The verdict follows the
organisation's `EnforcementMode`: `STOP` when enforcing (1.6
RemoteStopTransaction, 2.0.1 RequestStopTransaction or a non-Accepted
`idTokenInfo`), `OBSERVE` when observing (record the breach, let it run).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from .caps import Refusal, check_running_caps, reserve, running_room
from .combine import resolve_policy
from .decision import AuthStatus, Reason, Rule
from .model import EnforcementMode, MemberStatus, TokenStatus
from .snapshot import Snapshot
from .usage import MemberUsage, RunningSession, SessionStart


class Action(StrEnum):
    CONTINUE = "continue"
    STOP = "stop"
    OBSERVE = "observe"


@dataclass(frozen=True, slots=True)
class RunningVerdict:
    """`status` is Accepted when the session may go on, else the breach's status."""

    action: Action
    status: AuthStatus
    reason: Reason
    checks: tuple[Reason, ...] = ()

    @property
    def stop(self) -> bool:
        return self.action is Action.STOP


def reserve_start(
    snapshot: Snapshot, usage: MemberUsage, start: SessionStart
) -> MemberUsage | Refusal:
    """Reserve `start` for its member under the member's current policy."""
    member = snapshot.members.get(start.member_id)
    if member is None:
        return Refusal(AuthStatus.INVALID, Reason(Rule.MEMBER_STATUS, value="member missing"))
    org = snapshot.organisations[member.org_id]
    return reserve(usage, start, resolve_policy(snapshot, member), org.tz)


def running_headroom(
    snapshot: Snapshot, usage: MemberUsage, session: RunningSession
) -> tuple[int | None, int | None] | None:
    """What `session` may still spend (amount, energy: `caps.running_room`) while
    `recheck_running` would let it go on; None when its token or member is not in good
    standing (rules 1 and 2 above), so that only `recheck_running` can judge it."""
    token = snapshot.tokens.get(session.token)
    if token is None or token.status is not TokenStatus.ACTIVE:
        return None
    member = snapshot.members.get(session.member_id)
    if (
        member is None
        or member.status is MemberStatus.INACTIVE
        or member.org_id not in snapshot.organisations
    ):
        return None
    return running_room(usage, resolve_policy(snapshot, member), date.fromordinal(session.day))


def recheck_running(
    snapshot: Snapshot, usage: MemberUsage, session_id: str, now: datetime
) -> RunningVerdict:
    """Must running session `session_id` of this member's `usage` end at `now`?"""
    session = usage.running.get(session_id)
    if session is None:
        reason = Reason(Rule.SESSION_KNOWN, value="not running", passed=False)
        return RunningVerdict(Action.CONTINUE, AuthStatus.ACCEPTED, reason, (reason,))
    checks: list[Reason] = []
    token = snapshot.tokens.get(session.token)
    member = snapshot.members.get(session.member_id)
    org = snapshot.organisations.get(member.org_id) if member is not None else None

    def verdict(status: AuthStatus, reason: Reason) -> RunningVerdict:
        checks.append(reason)
        observe = org is not None and org.enforcement is EnforcementMode.OBSERVE
        action = Action.OBSERVE if observe else Action.STOP
        return RunningVerdict(action, status, reason, tuple(checks))

    if token is None:
        return verdict(AuthStatus.UNKNOWN, Reason(Rule.TOKEN_KNOWN, value="unknown", passed=False))
    checks.append(Reason(Rule.TOKEN_KNOWN, value=f"type {token.type}", passed=True))
    ok = token.status is TokenStatus.ACTIVE
    reason = Reason(Rule.TOKEN_STATUS, "Active", token.status.value, passed=ok)
    if not ok:
        return verdict(AuthStatus.BLOCKED, reason)
    checks.append(reason)
    ok = member is not None and org is not None and member.status is not MemberStatus.INACTIVE
    value = member.status.value if member is not None else "member missing"
    reason = Reason(Rule.MEMBER_STATUS, "not Inactive", value, passed=ok)
    if member is None or org is None or not ok:
        return verdict(AuthStatus.BLOCKED, reason)
    checks.append(reason)

    policy = resolve_policy(snapshot, member)
    breach = check_running_caps(usage, policy, date.fromordinal(session.day), checks)
    if breach is not None:
        checks.pop()  # verdict() appends it again
        return verdict(breach.status, breach.reason)
    reason = Reason(Rule.ACCEPTED, value=f"checked at {now.isoformat()}", passed=True)
    return RunningVerdict(Action.CONTINUE, AuthStatus.ACCEPTED, reason, tuple(checks))
