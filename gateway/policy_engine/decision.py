"""The outcome of an authorization decision, independent of any OCPP version.

`Decision` is what the policy engine returns and what the OCPP handlers map to
the version's response types (`IdTagInfo` in 1.6, `IdTokenInfo` in 2.0.1).
The status names are the OCPP 2.0.1 `AuthorizationStatusEnumType` values,
the richest of the two; `to_ocpp16` folds them onto the five 1.6 statuses as
the decision table of PRODUCT.md requires.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


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


@dataclass(frozen=True, slots=True)
class Reason:
    """Machine-readable reason of a decision: which rule, which limit, what value."""

    rule: str
    limit: str | None = None
    value: str | None = None

    def as_dict(self) -> dict[str, str]:
        out = {"rule": self.rule}
        if self.limit is not None:
            out["limit"] = self.limit
        if self.value is not None:
            out["value"] = self.value
        return out


@dataclass(frozen=True, slots=True)
class Decision:
    """An authorization decision with its reason.

    `expires_at` is the instant after which a charger must not rely on this
    answer (`expiryDate` in 1.6, `cacheExpiryDateTime` in 2.0.1); `group_id`
    is the organisation's group token (`parentIdTag` / `groupIdToken`).
    """

    status: AuthStatus
    reason: Reason
    expires_at: datetime | None = None
    group_id: str | None = None
    member_id: int | None = None
    checks: tuple[Reason, ...] = field(default=())

    @property
    def accepted(self) -> bool:
        return self.status is AuthStatus.ACCEPTED

    def ocpp16_status(self) -> str:
        """The 1.6 `AuthorizationStatus` for this decision (PRODUCT.md decision table)."""
        return _TO_16[self.status]

    def ocpp201_status(self) -> str:
        """The 2.0.1 `AuthorizationStatusEnumType` for this decision."""
        return self.status.value
