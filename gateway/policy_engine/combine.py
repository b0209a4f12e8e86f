"""How the policies of a member's organisation, groups and own record combine.

**The most specific scope wins, rule by rule; among groups, the strictest.**

For each rule (stations, hours, amount caps, energy caps, session caps,
concurrent sessions, validity) independently:

1. if the member's own policy sets the rule, it alone applies;
2. else, if any of the member's groups' policies set it, all of those apply
   together, i.e. the strictest: stations must be allowed by every such group,
   hours must be inside every such group's windows, every cap applies, the
   lowest concurrency limit applies, validity is the intersection;
3. else the organisation's policy, if it sets the rule;
4. else the rule does not restrict (all the organisation's stations, any
   hour, no cap).

So an operator can grant one member an exception (a member policy with
24/7 hours overrides the organisation's office hours for that rule only,
keeping its caps), while putting a member in one more group never gives them
more than they had: groups only narrow what the next group allows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from .hours import WeeklySchedule
from .model import (
    MemberInfo,
    PeriodCap,
    Policy,
    PolicyScope,
    ScopeKind,
    Snapshot,
    StationScope,
)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class EffectivePolicy:
    """The rules that apply to one member; every tuple entry must be satisfied.

    `sources` maps a rule name (a `Policy` field) to the scopes it came from,
    empty when no policy sets it.
    """

    stations: tuple[StationScope, ...] = ()
    hours: tuple[WeeklySchedule, ...] = ()
    amount_caps: tuple[PeriodCap, ...] = ()
    energy_caps: tuple[PeriodCap, ...] = ()
    session_caps: tuple[PeriodCap, ...] = ()
    max_concurrent: int | None = None
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    sources: dict[str, tuple[PolicyScope, ...]] = field(default_factory=dict)

    def source(self, rule: str) -> str:
        """Where a rule came from, for `explain`: "member:7", "group:2,5", "default"."""
        scopes = self.sources.get(rule, ())
        if not scopes:
            return "default"
        return f"{scopes[0].kind.value}:" + ",".join(str(s.id) for s in scopes)


def resolve_policy(snapshot: Snapshot, member: MemberInfo) -> EffectivePolicy:
    """The effective policy of `member` (see the module docstring)."""
    policies = snapshot.policies
    layers: list[list[tuple[PolicyScope, Policy]]] = []
    own = PolicyScope(ScopeKind.MEMBER, member.id)
    if own in policies:
        layers.append([(own, policies[own])])
    groups = [PolicyScope(ScopeKind.GROUP, g) for g in sorted(member.groups)]
    layers.append([(g, policies[g]) for g in groups if g in policies])
    org = PolicyScope(ScopeKind.ORGANISATION, member.org_id)
    if org in policies:
        layers.append([(org, policies[org])])
    return _combine(layers)


def _combine(layers: Sequence[Sequence[tuple[PolicyScope, Policy]]]) -> EffectivePolicy:
    sources: dict[str, tuple[PolicyScope, ...]] = {}

    def pick(rule: str, get: Callable[[Policy], T | None]) -> list[T]:
        for layer in layers:
            found = [(scope, value) for scope, p in layer if (value := get(p)) is not None]
            if found:
                sources[rule] = tuple(scope for scope, _ in found)
                return [value for _, value in found]
        return []

    validities = pick("validity", lambda p: p.validity)
    concurrency = pick("max_concurrent", lambda p: p.max_concurrent)
    return EffectivePolicy(
        stations=tuple(pick("stations", lambda p: p.stations)),
        hours=tuple(pick("hours", lambda p: p.hours)),
        amount_caps=_flatten(pick("amount_caps", lambda p: p.amount_caps)),
        energy_caps=_flatten(pick("energy_caps", lambda p: p.energy_caps)),
        session_caps=_flatten(pick("session_caps", lambda p: p.session_caps)),
        max_concurrent=min(concurrency) if concurrency else None,
        valid_from=_latest(v.valid_from for v in validities),
        valid_until=_earliest(v.valid_until for v in validities),
        sources=sources,
    )


def _flatten(groups: list[tuple[PeriodCap, ...]]) -> tuple[PeriodCap, ...]:
    return tuple(cap for caps in groups for cap in caps)


def _latest(values: Iterable[datetime | None]) -> datetime | None:
    found = [v for v in values if v is not None]
    return max(found) if found else None


def _earliest(values: Iterable[datetime | None]) -> datetime | None:
    found = [v for v in values if v is not None]
    return min(found) if found else None
