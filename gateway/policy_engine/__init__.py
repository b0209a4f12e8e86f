"""The authorization policy engine: a pure core, no I/O, no clock, no logging.

`decide(snapshot, request, usage, now, *, max_cache_lifetime) -> Decision`
answers Authorize / StartTransaction / TransactionEvent(Started) from a frozen
`Snapshot` (organisations, stations, members, tokens, policies) and the
members' `MemberUsage`. The OCPP handlers map the `Decision` to the version's
`IdTagInfo` / `IdTokenInfo` (`Decision.ocpp16_status()` /
`ocpp201_status()`, per PRODUCT.md's decision table).

Rule order (the first rule that fails decides; with `decide(...,
explain=True)`, `Decision.checks` lists every rule checked, with its limit
and the value used, for `explain`):

 1. token.known           Unknown            8. policy.validity   NotAtThisTime / Expired
 2. token.status          Blocked            9. policy.stations   NotAtThisLocation
 3. member.status         Blocked           10. policy.hours      NotAtThisTime
 4. token.expiry          Expired           11. cap.amount        NoCredit
 5. member.validity       Expired           12. cap.energy        NoCredit
 6. member.activation     Invalid           13. cap.sessions      NotAtThisTime (1.6 Blocked)
 7. station.organisation  NotAtThisLocation 14. cap.concurrent    ConcurrentTx

How policies combine (`combine`): per rule, the most specific scope that
sets it wins (member, then groups, then organisation, then no restriction);
when several of the member's groups set a rule, all of them apply (the
strictest). An Accepted never outlives the rule that allowed it: it expires
at the earliest of token expiry, membership end, policy end, end of the
allowed-hours stretch, and `now + max_cache_lifetime`.

Units: money in integer minor units of the organisation's currency (price
per kWh a `Decimal` of minor units), energy in Wh, periods in the
organisation's zone, hours in the station's zone (`hours`, `periods` and
`localtime` document DST). Sessions: `reserve` / `reserve_start` at start
(atomic admission; the first of two racing starts wins), `update_meter`
while running, `settle` at stop, `recheck_running` for mid-session
enforcement, `flag_offline` + `start_session` for offline transactions
(counted and flagged, never refused).

Modules: `decision` (outcome, OCPP status mapping), `model` (what a
snapshot holds), `snapshot` (`Snapshot`, built whole or patched member by
member; `views`, `layered`), `hours`, `periods`, `localtime`, `tariff`, `usage`,
`combine`, `caps`, `decide` (rules 1–7) and `policy_rules` (8–14),
`running`, `explain`, `start_time` (the instant a session counts at).
"""

from .caps import Breach, Refusal, admits_unused, check_limits, check_running_caps, reserve
from .combine import EffectivePolicy, policy_key, resolve_policy
from .decide import AuthRequest, Purpose, decide, flag_offline
from .decision import AuthStatus, Decision, Reason, Rule
from .explain import explain
from .hours import TimeWindow, WeeklySchedule, WindowStatus, window_status
from .layered import LayeredMap
from .localtime import local_date, local_instant, local_midnight
from .model import (
    ALL_STATIONS,
    EnforcementMode,
    MemberInfo,
    MemberStatus,
    OrganisationInfo,
    PeriodCap,
    Policy,
    PolicyScope,
    Role,
    ScopeKind,
    StationInfo,
    StationScope,
    TokenInfo,
    TokenStatus,
    TokenType,
    TokenTypeMatch,
    Validity,
    normalize_token,
    station_tz,
)
from .periods import Period, PeriodKind, period_bounds, period_days
from .running import Action, RunningVerdict, recheck_running, reserve_start, running_headroom
from .snapshot import MemberChange, Snapshot
from .start_time import MAX_START_AGE, counted_start
from .tariff import FREE, Tariff
from .usage import (
    EMPTY_USAGE,
    DayTotals,
    MemberUsage,
    PeriodTotals,
    RunningSession,
    SessionStart,
    period_totals,
    prune,
    settle,
    start_session,
    update_meter,
)
from .views import ScopedPolicies

__all__ = [
    "ALL_STATIONS",
    "EMPTY_USAGE",
    "FREE",
    "MAX_START_AGE",
    "Action",
    "AuthRequest",
    "AuthStatus",
    "Breach",
    "DayTotals",
    "Decision",
    "EffectivePolicy",
    "EnforcementMode",
    "LayeredMap",
    "MemberChange",
    "MemberInfo",
    "MemberStatus",
    "MemberUsage",
    "OrganisationInfo",
    "Period",
    "PeriodCap",
    "PeriodKind",
    "PeriodTotals",
    "Policy",
    "PolicyScope",
    "Purpose",
    "Reason",
    "Refusal",
    "Role",
    "Rule",
    "RunningSession",
    "RunningVerdict",
    "ScopeKind",
    "ScopedPolicies",
    "SessionStart",
    "Snapshot",
    "StationInfo",
    "StationScope",
    "Tariff",
    "TimeWindow",
    "TokenInfo",
    "TokenStatus",
    "TokenType",
    "TokenTypeMatch",
    "Validity",
    "WeeklySchedule",
    "WindowStatus",
    "admits_unused",
    "check_limits",
    "check_running_caps",
    "counted_start",
    "decide",
    "explain",
    "flag_offline",
    "local_date",
    "local_instant",
    "local_midnight",
    "normalize_token",
    "period_bounds",
    "period_days",
    "period_totals",
    "policy_key",
    "prune",
    "recheck_running",
    "reserve",
    "reserve_start",
    "resolve_policy",
    "running_headroom",
    "settle",
    "start_session",
    "station_tz",
    "update_meter",
    "window_status",
]
