"""The in-memory policy cache: the snapshot, the members' usage, and atomic admission.

Implements the :class:`~gateway.authorization.Authorizer` seam on top of the
pure engine. Everything here is synchronous and runs on the event loop, so a
decision and its reservation happen with no await in between: of two starts
racing for a member's last session or last euro, exactly one is admitted.

A start is reserved under a provisional id before the transaction is written
(the database assigns the id), then renamed to the transaction id once the
record is committed, or released if the write fails or turns out to be a
retry of a start already counted.

Sessions are keyed by the transactions table's id (``str``), for both OCPP
versions.

A meter value is the hot path (ten or more per session): :meth:`PolicyCache.meter`
replaces the member's `MemberUsage` with a new one holding the new energy (built
directly, not through ``dataclasses.replace``; nothing at all when the energy did
not change), so a usage, like a snapshot, is never changed in place for anyone
still holding it. The amount and energy caps are re-checked at every value
against a per-session `_Headroom` (what the session may still spend, moved by
each value's change, summed again from the usage only when the snapshot or the
member's usage changed otherwise); only when a cap is reached, or the token or
member is not in good standing, is `recheck_running` asked for the verdict.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from gateway.policy_engine import (
    EMPTY_USAGE,
    FREE,
    Action,
    AuthRequest,
    AuthStatus,
    DayTotals,
    Decision,
    MemberUsage,
    Reason,
    Refusal,
    Rule,
    RunningSession,
    RunningVerdict,
    SessionStart,
    Snapshot,
    Tariff,
    decide,
    flag_offline,
    normalize_token,
    recheck_running,
    reserve_start,
    running_headroom,
    settle,
    start_session,
)

_EMPTY = Snapshot.build(organisations=())
_CONTINUE = RunningVerdict(
    Action.CONTINUE,
    AuthStatus.ACCEPTED,
    Reason(Rule.ACCEPTED, value="checked at a meter value", passed=True),
)
"""`PolicyCache.meter`'s verdict for a session that may go on (`recheck` has the checks)."""


@dataclass(slots=True)
class _Headroom:
    """What a running session may still spend before it reaches an amount or an energy
    cap (the least over the caps of each kind, None: no such cap): the caps' limits
    less the member's spend over the cap periods holding the session's start day.

    Computed from one snapshot (`swaps`: the cache's count of snapshots swapped in;
    an old snapshot is not held, so that it can be freed) and one usage of the
    member, and valid while both are still the cache's (any other change to the
    member's usage makes a new usage): a meter value of the session then only
    moves it by what the session's cost and energy moved, instead of summing the
    periods again. Mutable, and the cache's own: it never leaves the cache.
    """

    swaps: int
    usage: MemberUsage
    amount: int | None = None
    energy: int | None = None

    def spent(self, usage: MemberUsage, amount: int, energy: int) -> None:
        """The session's cost grew by `amount` and its energy by `energy`: now `usage`."""
        self.usage = usage
        if self.amount is not None:
            self.amount -= amount
        if self.energy is not None:
            self.energy -= energy

    def fits(self) -> bool:
        """No cap reached (reached: spent >= limit, as `check_running_caps`)."""
        return (self.amount is None or self.amount > 0) and (self.energy is None or self.energy > 0)


@dataclass(frozen=True, slots=True)
class StartTicket:
    """A start decided (and, when accepted, reserved) but not yet recorded."""

    decision: Decision
    provisional_id: str | None
    member_id: int | None
    counted_at: datetime
    """The instant the start counts at (recorded with the transaction)."""


class PolicyCache:
    def __init__(self, max_cache_lifetime: timedelta) -> None:
        self._snapshot = _EMPTY
        self._swaps = 0  # snapshots swapped in: what a `_Headroom` was computed under
        self.usage: dict[int, MemberUsage] = {}
        self.loaded = False
        self.builds = 0  # snapshots built whole and swapped in
        self.patches = 0  # snapshots patched for some members and swapped in
        self._max_lifetime = max_cache_lifetime
        self._ids = itertools.count(1)
        self._member_of: dict[str, int] = {}
        self._rooms: dict[str, _Headroom] = {}  # by running session, see `meter`

    @property
    def snapshot(self) -> Snapshot:
        return self._snapshot

    @snapshot.setter
    def snapshot(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot
        self._swaps += 1

    def load(self, snapshot: Snapshot, usage: dict[int, MemberUsage] | None = None) -> None:
        """Swap in a snapshot built whole (and, at start, the rebuilt usage)."""
        self.snapshot = snapshot
        if usage is not None:
            self.usage = usage
            self._member_of = {
                session: member for member, u in usage.items() for session in u.running
            }
            self._rooms = {}
        self.loaded = True
        self.builds += 1

    def apply_patch(self, snapshot: Snapshot) -> None:
        """Swap in a snapshot patched from the current one (`Snapshot.patched`)."""
        self.snapshot = snapshot
        self.patches += 1

    # -- decisions --------------------------------------------------------------------------

    def decide(self, request: AuthRequest, now: datetime) -> Decision:
        return decide(
            self.snapshot, request, self.usage, now, max_cache_lifetime=self._max_lifetime
        )

    def begin_start(
        self,
        request: AuthRequest,
        now: datetime,
        *,
        offline: bool = False,
        counted_at: datetime | None = None,
    ) -> StartTicket:
        """Decide a start at ``now`` and count it at once (OCPP 1.6 §4.8, 2.0.1 E01).

        Accepted starts are reserved against the caps of the period holding
        ``counted_at`` (``policy_engine.counted_start``; ``now`` when not given).
        Offline starts (2.0.1 ``offline: true``) are never refused: judged at
        the time they happened, accepted and flagged with the rule they broke.
        Every start with a known member is counted: the charger reports energy
        that was delivered.
        """
        if offline:
            decision = flag_offline(
                self.snapshot, request, self.usage, now, max_cache_lifetime=self._max_lifetime
            )
        else:
            decision = self.decide(request, now)
        member_id = decision.member_id
        counted_at = now if counted_at is None else counted_at
        if member_id is None:
            return StartTicket(decision, None, None, counted_at)
        provisional = f"pending:{next(self._ids)}"
        start = SessionStart(
            provisional,
            member_id,
            normalize_token(request.token),
            request.station_id,
            counted_at,
            self._tariff(request.station_id),
            flagged=decision.flagged,
        )
        usage = self.usage.get(member_id, EMPTY_USAGE)
        if decision.accepted and not offline:
            reserved = reserve_start(self.snapshot, usage, start)
            if isinstance(reserved, Refusal):  # lost a race for the last session / euro
                decision = _refused(decision, reserved)
                self.usage[member_id] = self._count(usage, start)
            else:
                self.usage[member_id] = reserved
        else:
            self.usage[member_id] = self._count(usage, start)
        return StartTicket(decision, provisional, member_id, counted_at)

    def confirm_start(self, ticket: StartTicket, session_id: str, *, replayed: bool) -> None:
        """The start is recorded as ``session_id``; a replayed start was counted already."""
        if ticket.member_id is None or ticket.provisional_id is None:
            return
        usage = self.usage.get(ticket.member_id, EMPTY_USAGE)
        session = usage.running.get(ticket.provisional_id)
        if session is None:
            return
        running = {k: v for k, v in usage.running.items() if k != ticket.provisional_id}
        if replayed and session_id in running:  # the first attempt counted it already
            self.usage[ticket.member_id] = _uncount(replace(usage, running=running), session)
            return
        running[session_id] = replace(session, session_id=session_id)
        self.usage[ticket.member_id] = replace(usage, running=running)
        self._member_of[session_id] = ticket.member_id

    def abort_start(self, ticket: StartTicket) -> None:
        """The start could not be recorded: release what it counted."""
        if ticket.member_id is None or ticket.provisional_id is None:
            return
        usage = self.usage.get(ticket.member_id, EMPTY_USAGE)
        session = usage.running.get(ticket.provisional_id)
        if session is not None:
            running = {k: v for k, v in usage.running.items() if k != ticket.provisional_id}
            self.usage[ticket.member_id] = _uncount(replace(usage, running=running), session)

    # -- running sessions -------------------------------------------------------------------

    def meter(
        self, member_id: int, session_id: str, energy_wh: int, now: datetime
    ) -> RunningVerdict:
        """New energy for a running session; is it still allowed to run?

        The usage becomes what ``update_meter`` makes of it. The verdict's action
        and status are those of ``recheck_running`` (and the reason too, but for a
        session that may go on: a shared Continue, without the per-rule ``checks``,
        which `recheck` lists).
        """
        usage = self.usage.get(member_id, EMPTY_USAGE)
        session = usage.running.get(session_id)
        if session is None:
            return recheck_running(self.snapshot, usage, session_id, now)  # not running
        room = self._rooms.get(session_id)
        if room is None or room.swaps != self._swaps or room.usage is not usage:
            room = self._headroom(usage, session)
        energy = energy_wh if energy_wh > 0 else 0
        if energy != session.energy_wh:
            updated = _with_energy(session, energy)
            running = dict(usage.running)
            running[session_id] = updated
            usage = self.usage[member_id] = MemberUsage(usage.days, running)
            if room is not None:
                room.spent(usage, updated.cost - session.cost, energy - session.energy_wh)
        if room is None:
            self._rooms.pop(session_id, None)
        else:
            self._rooms[session_id] = room
            if room.fits():
                return _CONTINUE
        return recheck_running(self.snapshot, usage, session_id, now)

    def _headroom(self, usage: MemberUsage, session: RunningSession) -> _Headroom | None:
        """What `session` may still spend (the engine's `running_headroom`); None when
        `recheck_running` must judge (its token or member is not in good standing)."""
        room = running_headroom(self.snapshot, usage, session)
        if room is None:
            return None
        return _Headroom(self._swaps, usage, *room)

    def stop(self, member_id: int, session_id: str, energy_wh: int | None) -> None:
        self.usage[member_id] = settle(
            self.usage.get(member_id, EMPTY_USAGE), session_id, energy_wh
        )
        self._member_of.pop(session_id, None)
        self._rooms.pop(session_id, None)

    def running(self, member_ids: Iterable[int] | None = None) -> Iterator[tuple[int, str, str]]:
        """(member id, session id, station id) of every running session (of these members)."""
        if member_ids is None:
            members: Iterable[tuple[int, MemberUsage]] = self.usage.items()
        else:
            members = ((m, u) for m in member_ids if (u := self.usage.get(m)) is not None)
        for member_id, usage in members:
            for session in usage.running.values():
                if not session.session_id.startswith("pending:"):
                    yield member_id, session.session_id, session.station_id

    def recheck(self, member_id: int, session_id: str, now: datetime) -> RunningVerdict:
        return recheck_running(
            self.snapshot, self.usage.get(member_id, EMPTY_USAGE), session_id, now
        )

    def session_tariff(self, session_id: str, station_id: str) -> Tariff:
        """The tariff fixed at the session's start, else the station's current one."""
        member_id = self._member_of.get(session_id)
        if member_id is not None:
            session = self.usage.get(member_id, EMPTY_USAGE).running.get(session_id)
            if session is not None:
                return session.tariff
        return self._tariff(station_id)

    def _tariff(self, station_id: str) -> Tariff:
        return self.snapshot.tariff_for(station_id) or FREE

    def _count(self, usage: MemberUsage, start: SessionStart) -> MemberUsage:
        member = self.snapshot.members[start.member_id]
        return start_session(usage, start, self.snapshot.organisations[member.org_id].tz)


def _with_energy(session: RunningSession, energy: int) -> RunningSession:
    """``update_meter``'s new session for an energy >= 0, built directly: a few times
    cheaper than ``dataclasses.replace``."""
    return RunningSession(
        session.session_id,
        session.member_id,
        session.token,
        session.station_id,
        session.started_at,
        session.day,
        session.tariff,
        energy,
        session.tariff.cost(energy),
        session.amount_hold,
        session.energy_hold,
        session.flagged,
    )


def _uncount(usage: MemberUsage, session: RunningSession) -> MemberUsage:
    """Take back the session count of a start that is not one after all."""
    bucket = usage.days.get(session.day, DayTotals())
    days = {**usage.days, session.day: replace(bucket, sessions=max(0, bucket.sessions - 1))}
    return replace(usage, days=days)


def _refused(decision: Decision, refusal: Refusal) -> Decision:
    return Decision(
        refusal.status,
        refusal.reason,
        expires_at=decision.expires_at,
        group_id=decision.group_id,
        member_id=decision.member_id,
        checks=(*decision.checks, refusal.reason),
    )


__all__ = ["AuthStatus", "PolicyCache", "Reason", "StartTicket"]
