"""The outcome of an authorization decision, independent of any OCPP version.

`Decision` is what the policy engine returns and what the OCPP handlers map to
the version's response types (`IdTagInfo` in 1.6, `IdTokenInfo` in 2.0.1).
The status names are the OCPP 2.0.1 `AuthorizationStatusEnumType` values,
the richest of the two; `ocpp16_status` folds them onto the five 1.6 statuses as
the decision table of PRODUCT.md requires. One row of that table cannot be
folded by status alone: the sessions-per-period cap is `NotAtThisTime` in 2.0.1
but `Blocked` in 1.6 (whereas allowed hours are `NotAtThisTime` / `Invalid`),
so the 1.6 fold also looks at the rule that refused (`Rule.CAP_SESSIONS`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from functools import lru_cache
from typing import NamedTuple


class AuthStatus(StrEnum):
    """Authorization outcome (OCPP 2.0.1 AuthorizationStatusEnumType names)."""

    ACCEPTED = "Accepted"
    BLOCKED = "Blocked"
    CONCURRENT_TX = "ConcurrentTx"
    EXPIRED = "Expired"
    INVALID = "Invalid"
    NO_CREDIT = "NoCredit"
    NOT_ALLOWED_TYPE_EVSE = "NotAllowedTypeEVSE"
    NOT_AT_THIS_LOCATION = "NotAtThisLocation"
    NOT_AT_THIS_TIME = "NotAtThisTime"
    UNKNOWN = "Unknown"


class Rule(StrEnum):
    """Names of the rules the policy engine checks, in the order it checks them.

    Used as `Reason.rule`; `explain` and the structured log show them as is.
    """

    TOKEN_KNOWN = "token.known"
    TOKEN_STATUS = "token.status"
    MEMBER_STATUS = "member.status"
    TOKEN_EXPIRY = "token.expiry"
    MEMBER_VALIDITY = "member.validity"
    MEMBER_ACTIVATION = "member.activation"
    STATION_ORGANISATION = "station.organisation"
    POLICY_VALIDITY = "policy.validity"
    POLICY_STATIONS = "policy.stations"
    POLICY_HOURS = "policy.hours"
    CAP_AMOUNT = "cap.amount"
    CAP_ENERGY = "cap.energy"
    CAP_SESSIONS = "cap.sessions"
    CAP_CONCURRENT = "cap.concurrent"
    ACCEPTED = "accepted"
    OFFLINE = "offline"
    SESSION_KNOWN = "session.known"


# OCPP 1.6 AuthorizationStatus has Accepted, Blocked, Expired, Invalid, ConcurrentTx.
_TO_16: dict[AuthStatus, str] = {
    AuthStatus.ACCEPTED: "Accepted",
    AuthStatus.BLOCKED: "Blocked",
    AuthStatus.CONCURRENT_TX: "ConcurrentTx",
    AuthStatus.EXPIRED: "Expired",
    AuthStatus.INVALID: "Invalid",
    AuthStatus.UNKNOWN: "Invalid",
    AuthStatus.NOT_AT_THIS_LOCATION: "Invalid",
    AuthStatus.NOT_AT_THIS_TIME: "Invalid",
    AuthStatus.NOT_ALLOWED_TYPE_EVSE: "Invalid",
    AuthStatus.NO_CREDIT: "Blocked",
}

# Rows of the decision table whose 1.6 status is not the fold of the 2.0.1 one.
_RULE_TO_16: dict[tuple[AuthStatus, str], str] = {
    (AuthStatus.NOT_AT_THIS_TIME, Rule.CAP_SESSIONS): "Blocked",
}


class Reason(NamedTuple):
    """Machine-readable reason of a decision: which rule, which limit, what value.

    `passed` is set on the entries of `Decision.checks`: True when the rule let
    the request through, False for the rule that refused it.

    A named tuple, as is `Decision`: one or two are made per decision, and a
    tuple is made twice as fast as a frozen dataclass (change one with
    `_replace`).
    """

    rule: str
    limit: str | None = None
    value: str | None = None
    passed: bool | None = None

    def as_dict(self) -> dict[str, str]:
        out = {"rule": str(self.rule)}
        if self.limit is not None:
            out["limit"] = self.limit
        if self.value is not None:
            out["value"] = self.value
        if self.passed is not None:
            out["passed"] = "true" if self.passed else "false"
        return out


class Decision(NamedTuple):
    """An authorization decision with its reason.

    `expires_at` is the instant after which a charger must not rely on this
    answer (`expiryDate` in 1.6, `cacheExpiryDateTime` in 2.0.1); `group_id`
    is the organisation's group token (`parentIdTag` / `groupIdToken`).
    `checks` lists every rule the engine checked, in order, with the values it
    used (the last one is the refusing rule when the status is not Accepted);
    it is filled only by `decide(..., explain=True)`, else empty.
    `flagged` is set on an Accepted decision for a transaction that happened
    offline and broke a rule: it is accepted after the fact, never refused, and
    `flagged` names the rule it broke.
    """

    status: AuthStatus
    reason: Reason
    expires_at: datetime | None = None
    group_id: str | None = None
    member_id: int | None = None
    checks: tuple[Reason, ...] = ()
    flagged: Reason | None = None

    @property
    def accepted(self) -> bool:
        return self.status is AuthStatus.ACCEPTED

    def ocpp16_status(self) -> str:
        """The 1.6 `AuthorizationStatus` for this decision (PRODUCT.md decision table)."""
        override = _RULE_TO_16.get((self.status, self.reason.rule))
        return override if override is not None else _TO_16[self.status]

    def ocpp201_status(self) -> str:
        """The 2.0.1 `AuthorizationStatusEnumType` for this decision."""
        return self.status.value


def refused(
    status: AuthStatus,
    reason: Reason,
    cache_end: datetime,
    member_id: int | None,
    group_id: str | None,
    checks: list[Reason] | None,
    lifts_at: datetime | None = None,
) -> Decision:
    """A refusal: it expires at `cache_end`, or at `lifts_at` when the refusal lifts sooner.

    `checks`: the rules that passed before (None when not explaining).
    """
    expiry = cache_end if lifts_at is None or cache_end <= lifts_at else lifts_at
    listed = () if checks is None else (*checks, reason)
    decision = (status, reason, expiry.astimezone(UTC), group_id, member_id, listed, None)
    return tuple.__new__(Decision, decision)


@lru_cache(maxsize=4096)
def passed(rule: str, limit: str | None = None, value: str | None = None) -> Reason:
    """A passing check. Shared instances: the same few recur on every decision."""
    return Reason(rule, limit, value, passed=True)
