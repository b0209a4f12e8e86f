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
keeping its caps), and a group can grant its members an exception to the
organisation's default; but once one of a member's groups sets a rule,
putting the member in one more group can only narrow that rule, never widen
it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from .hours import WeeklySchedule
from .model import (
    MemberInfo,
    PeriodCap,
    Policy,
    PolicyKey,
    PolicyScope,
    ScopeKind,
    StationScope,
)
from .periods import PeriodKind

if TYPE_CHECKING:
    from .snapshot import Snapshot

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class EffectivePolicy:
    """The rules that apply to one member; every tuple entry must be satisfied.

    `sources` maps a rule name (a `Policy` field) to the scopes it came from,
    as shown by `explain` ("member:7", "group:2,5"); absent: "default".
    `labels` and `cap_labels` (one per cap) hold the `explain` limits of the
    rules, formatted once per policy rather than on every decision.
    `all_caps` lists every cap in rule order (amount, energy, sessions) as
    `(field, cap, label)`, and `cap_plan` the same flattened for the hot path:
    `(field, limit, period kind, period days, label)`. `zero_limit`: a cap or
    the concurrency limit is 0, so even a member who has used nothing is
    refused (else such a member passes every cap). `limited`: there is a cap
    or a concurrency limit at all. `limiting_stations`: the station scopes
    other than "all stations" (those admit every station of the organisation).
    """

    def __post_init__(self) -> None:
        labels = {
            "validity": f"{_iso(self.valid_from)}..{_iso(self.valid_until)}"
            f" ({self.source('validity')})",
            "stations": f"{_describe_scopes(self.stations)} ({self.source('stations')})",
            "hours": f"{len(self.hours)} schedule(s) ({self.source('hours')})",
            "max_concurrent": (
                f"{self.max_concurrent} running ({self.source('max_concurrent')})"
                if self.max_concurrent is not None
                else "none (default)"
            ),
        }
        cap_labels = {}
        all_caps: list[tuple[str, PeriodCap, str]] = []
        for name, caps in (
            ("amount_caps", self.amount_caps),
            ("energy_caps", self.energy_caps),
            ("session_caps", self.session_caps),
        ):
            source = self.source(name)
            labels[name] = f"none ({source})"
            cap_labels[name] = tuple(f"{c.limit} per {c.period} ({source})" for c in caps)
            all_caps.extend(zip((name,) * len(caps), caps, cap_labels[name], strict=True))
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "cap_labels", cap_labels)
        object.__setattr__(self, "all_caps", tuple(all_caps))
        plan = tuple((n, c.limit, c.period.kind, c.period.days, lb) for n, c, lb in all_caps)
        object.__setattr__(self, "cap_plan", plan)
        zero = any(cap.limit <= 0 for _, cap, _ in all_caps) or (
            self.max_concurrent is not None and self.max_concurrent <= 0
        )
        object.__setattr__(self, "zero_limit", zero)
        object.__setattr__(self, "limited", bool(all_caps) or self.max_concurrent is not None)
        limiting = tuple(scope for scope in self.stations if not scope.all_stations)
        object.__setattr__(self, "limiting_stations", limiting)

    stations: tuple[StationScope, ...] = ()
    hours: tuple[WeeklySchedule, ...] = ()
    amount_caps: tuple[PeriodCap, ...] = ()
    energy_caps: tuple[PeriodCap, ...] = ()
    session_caps: tuple[PeriodCap, ...] = ()
    max_concurrent: int | None = None
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    sources: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(init=False, repr=False, compare=False)
    cap_labels: dict[str, tuple[str, ...]] = field(init=False, repr=False, compare=False)
    all_caps: tuple[tuple[str, PeriodCap, str], ...] = field(init=False, repr=False, compare=False)
    cap_plan: tuple[tuple[str, int, PeriodKind, int, str], ...] = field(
        init=False, repr=False, compare=False
    )
    zero_limit: bool = field(init=False, repr=False, compare=False)
    limited: bool = field(init=False, repr=False, compare=False)
    limiting_stations: tuple[StationScope, ...] = field(init=False, repr=False, compare=False)

    def source(self, rule: str) -> str:
        """Where a rule came from, for `explain`: "member:7", "group:2,5", "default"."""
        return self.sources.get(rule, "default")


def resolve_policy(snapshot: Snapshot, member: MemberInfo) -> EffectivePolicy:
    """The effective policy of `member` (see the module docstring).

    A member with a policy of its own has it resolved ahead of any request,
    when the snapshot is built or patched (`Snapshot.own_policies`). Any
    other member's depends on its organisation and groups only: it is
    memoised per (organisation, groups), and members whose keys
    (`policy_key`) are equal share one resolution.
    """
    own = snapshot.own_policies.get(member.id)
    if own is not None:
        return own
    memo = snapshot.policy_memo
    groups_key = (member.org_id, member.groups)
    policy = memo.get(groups_key)
    if policy is None:
        key = policy_key(snapshot, member)
        policy = memo.get(key)
        if policy is None:
            policy = memo[key] = _resolve(snapshot, member)
        memo[groups_key] = policy
    return policy


def policy_key(snapshot: Snapshot, member: MemberInfo) -> PolicyKey:
    """All that `member`'s effective policy depends on.

    Its organisation, its id if it has a policy of its own (else None), and
    those of its groups that have a policy: members with equal keys read the
    same policies, so they have the same effective policy.
    """
    own = member.id if member.id in snapshot.policies.members else None
    return member.org_id, own, member.groups & snapshot.policy_groups


def _resolve(snapshot: Snapshot, member: MemberInfo) -> EffectivePolicy:
    return effective_policy(snapshot.policies, member)


def effective_policy(policies: Mapping[PolicyScope, Policy], member: MemberInfo) -> EffectivePolicy:
    """`member`'s effective policy under `policies`, resolved afresh (no memo)."""
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
    sources: dict[str, str] = {}

    def pick(rule: str, get: Callable[[Policy], T | None]) -> list[T]:
        for layer in layers:
            found = [(scope, value) for scope, p in layer if (value := get(p)) is not None]
            if found:
                kind = found[0][0].kind.value
                sources[rule] = f"{kind}:" + ",".join(str(scope.id) for scope, _ in found)
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


def _iso(instant: datetime | None) -> str:
    return instant.isoformat() if instant is not None else "none"


def _describe_scopes(scopes: tuple[StationScope, ...]) -> str:
    if not scopes:
        return "all stations of the organisation"
    return " and ".join(_describe_scope(s) for s in scopes)


def _describe_scope(scope: StationScope) -> str:
    if scope.all_stations:
        return "all stations"
    return f"{len(scope.stations)} station(s) + {len(scope.sites)} site(s)"


def _latest(values: Iterable[datetime | None]) -> datetime | None:
    found = [v for v in values if v is not None]
    return max(found) if found else None


def _earliest(values: Iterable[datetime | None]) -> datetime | None:
    found = [v for v in values if v is not None]
    return min(found) if found else None
